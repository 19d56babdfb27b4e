"""Public checks for vae.py (Q5.1, Q5.2, Q5.4-Q5.7): your functions against PyTorch, float64.

Run `pytest tests/test_vae.py` in your folder. Each check reads: seeded inputs -> torch's value
(torch.distributions, autograd) -> your result, through the grader's probes when a gradient is
checked too (they back-propagate a weighted sum of your outputs) -> the grader's comparison,
with its hint when your result is what a known mistake gives (autograder/mistakes/vae.py). A
gradient is checked only after the value of the same call. The grader's hidden tests use other
inputs, and more of them.
"""
import functools
import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Normal, kl_divergence

from autograder.checks import (Mismatch, as_array, as_parts, assert_close, assert_true, case_rng,
                               matching_hints)
from autograder.mistakes import vae as mistakes
from autograder.probes.generative import leaves_of, mlp_module, module_parameters
from autograder.suites.generative_checks import (assert_gradients, call_student_with_grads,
                                                 reference_of)
from public_checks import StudentCodeError

MODULE = "vae"
NEG_INF = float("-inf")


def T(array) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float64))


def call_with_grads(submission, function, args, differentiable, weights) -> dict:
    """Your function(*args) through the grader's probe: its value, and the gradients of
    sum_i sum(weights[i] * result_i) w.r.t. args[differentiable]."""
    return call_student_with_grads(submission, MODULE, function, args, differentiable, weights)


def part(found: dict, i: int) -> dict:
    return {hint: value[i] for hint, value in found.items()}


def matching_every_part(got: list, found: dict) -> dict:
    """The mistakes (hint -> tuple) that reproduce every part of your tuple: a formula that
    explains one output but not the others is not yours."""
    return {hint: value for hint, value in found.items()
            if all(matching_hints(g, {hint: v}) for g, v in zip(got, value))}


# === Q5.1: ae_forward, vae_forward, vae_generate =============================================
PARAMETERS = [f"{module} {name}" for module in ("encoder", "decoder")
              for name in ("W1", "b1", "W2", "b2")]


def mlp_weights(rng, n_in, hidden, n_out):
    return [T(rng.normal(0, 1 / math.sqrt(n_in), (hidden, n_in))), T(rng.normal(0, 0.3, hidden)),
            T(rng.normal(0, 1 / math.sqrt(hidden), (n_out, hidden))), T(rng.normal(0, 0.3, n_out))]


@functools.cache
def ae_case(variational: bool):
    """x (4, 2, 3) images, encoder weights (to D or 2D, the logvar half's bias shifted by ±1),
    decoder weights, eps (4, D), generation eps (6, D), output weights for the gradients."""
    rng = case_rng("public", "vae.autoencoder", variational)
    shape, hidden, D = (4, 2, 3), 5, 2
    x = T(rng.uniform(0, 1, shape))
    enc = mlp_weights(rng, 6, hidden, 2 * D if variational else D)
    if variational:
        enc[3] = enc[3] + T(np.r_[np.zeros(D), [1.0, -1.0]])
    dec = mlp_weights(rng, D, hidden, 6)
    return dict(x=x, enc=enc, dec=dec, eps=T(rng.normal(0, 1, (4, D))),
                gen_eps=T(rng.normal(0, 1, (6, D))), w=T(rng.normal(0, 1, shape)),
                w_gen=T(rng.normal(0, 1, (6, *shape[1:]))), out_shape=list(shape[1:]))


def vae_forward_twin(x, encoder, decoder, eps):
    stats = encoder(x)
    d = stats.shape[1] // 2
    mu, logvar = stats[:, :d], stats[:, d:]
    z = mu + Normal(mu, torch.exp(0.5 * logvar)).stddev * eps
    return decoder(z), mu, logvar, z


def autoencoder_call(function: str):
    c = ae_case(function != "ae_forward")
    eps = {"ae_forward": None, "vae_forward": c["eps"], "vae_generate": c["gen_eps"]}[function]
    weights = {"ae_forward": [c["w"]], "vae_forward": [c["w"], None, None, None],
               "vae_generate": [c["w_gen"]]}[function]
    return c, eps, weights


@functools.cache
def autoencoder_reference(function: str) -> dict:
    """The output, the gradients of sum(w * x_logits) w.r.t. both modules' parameters, and the
    same for each mistake, on modules built as the grader's probe builds them."""
    c, eps, weights = autoencoder_call(function)
    encoder = mlp_module(c["enc"], True, None)
    decoder = mlp_module(c["dec"], False, c["out_shape"])
    twin, args = {
        "ae_forward": (lambda x: decoder(encoder(x)), [c["x"]]),
        "vae_forward": (lambda x, eps: vae_forward_twin(x, encoder, decoder, eps), [c["x"], eps]),
        "vae_generate": (lambda eps: decoder(eps), [eps]),
    }[function]
    wrong = {
        "ae_forward": lambda x, expected: mistakes.ae_forward(x, encoder, decoder, expected),
        "vae_forward": lambda x, eps, expected: mistakes.vae_forward(x, encoder, decoder, eps,
                                                                     expected),
        "vae_generate": lambda eps, expected: mistakes.vae_generate(decoder, eps, expected),
    }[function]
    return reference_of(twin, wrong, args,
                        module_parameters(encoder) + module_parameters(decoder), weights)


def run_autoencoder(submission, function: str) -> dict:
    c, eps, weights = autoencoder_call(function)
    args = {"ae_forward": "x, encoder, decoder", "vae_forward": "x, encoder, decoder, eps",
            "vae_generate": "decoder, eps"}[function]
    return submission.checked_probe("call_autoencoder", MODULE, function, c["enc"], c["dec"],
                                    c["out_shape"], c["x"], eps, weights, module=MODULE,
                                    where=f"{function}({args})")


def ae_inputs(c, eps=None):
    found = {"x": c["x"], "encoder": "Flatten, Linear, Tanh, Linear",
             "decoder": "Linear, Tanh, Linear, Unflatten"}
    return found if eps is None else {**found, "eps": eps}


@pytest.mark.question("5.1", weight=1.5)
def test_ae_forward(submission):
    """decoder(encoder(x)) as logits, and gradients reaching both modules' weights."""
    c, _, _ = autoencoder_call("ae_forward")
    expected = autoencoder_reference("ae_forward")
    reply = run_autoencoder(submission, "ae_forward")
    check = "ae_forward(x, encoder, decoder)"
    assert_close(reply["value"], expected["value"], check=check, inputs=ae_inputs(c),
                 mistakes=expected["mistakes"])
    assert_gradients(reply, expected, PARAMETERS, inputs=ae_inputs(c),
                     check=f"{check}, back-propagating sum(w * x_logits)")


def check_vae_outputs(reply, expected, c, order):
    check = "vae_forward(x, encoder, decoder, eps)"
    got = as_parts(reply["value"], 4, check + " (x_logits, mu, logvar, z)")
    names = ["x_logits (1st output)", "mu (2nd output)", "logvar (3rd output)", "z (4th output)"]
    consistent = matching_every_part(got, expected["mistakes"])
    for i in order:
        assert_close(got[i], expected["value"][i], check=f"{check}: {names[i]}",
                     inputs=ae_inputs(c, c["eps"]), mistakes=part(consistent, i))


@pytest.mark.question("5.1", weight=3)
def test_vae_forward_outputs(submission):
    """(x_logits, mu, logvar, z): the encoder's halves [mu | logvar], z = mu + exp(logvar/2) eps,
    x_logits = decoder(z)."""
    c, _, _ = autoencoder_call("vae_forward")
    check_vae_outputs(run_autoencoder(submission, "vae_forward"),
                      autoencoder_reference("vae_forward"), c, [1, 2, 3, 0])


@pytest.mark.question("5.1", weight=1.5)
def test_vae_forward_gradients(submission):
    c, _, _ = autoencoder_call("vae_forward")
    expected = autoencoder_reference("vae_forward")
    reply = run_autoencoder(submission, "vae_forward")
    check_vae_outputs(reply, expected, c, [0])
    assert_gradients(reply, expected, PARAMETERS, inputs=ae_inputs(c, c["eps"]),
                     check="vae_forward(x, encoder, decoder, eps), back-propagating "
                           "sum(w * x_logits)")


@pytest.mark.question("5.1", weight=1.5)
def test_vae_generate(submission):
    """decoder(eps) on prior samples (6 of them, not the batch size), gradients to the decoder."""
    c, eps, _ = autoencoder_call("vae_generate")
    expected = autoencoder_reference("vae_generate")
    reply = run_autoencoder(submission, "vae_generate")
    check = "vae_generate(decoder, eps)"
    inputs = {"eps": eps, "decoder": "Linear, Tanh, Linear, Unflatten"}
    assert_close(reply["value"], expected["value"], check=check, inputs=inputs,
                 mistakes=expected["mistakes"])
    assert_gradients(reply, expected, [None] * 4 + PARAMETERS[4:], inputs=inputs,
                     check=f"{check}, back-propagating sum(w * logits)")


# === Q5.2: pathwise and score-function estimators ============================================
def f_quadratic(a, c):
    return lambda z: (a * z**2 + c * z).sum(dim=-1)


@functools.cache
def pathwise_case():
    """f(z) = sum_d a_d z_d^2 + c_d z_d; sigma on both sides of 1 (d/d sigma and d/d log sigma
    differ), 6 samples of 3 dimensions."""
    rng = case_rng("public", "vae.pathwise")
    a, c, mu = rng.choice([-1.0, 1.0], 3) * rng.uniform(0.5, 1.5, 3), rng.normal(0, 1, 3), \
        rng.normal(0, 1, 3)
    return T(a), T(c), T(mu), T([0.3, 1.8, 2.2]), T(rng.normal(0, 1, (6, 3)))


@functools.cache
def pathwise_reference() -> dict:
    a, c, mu, sigma, eps = pathwise_case()
    f = f_quadratic(a, c)

    def estimate(mu, sigma, eps):
        (m, s), _ = leaves_of([mu, sigma], [0, 1])
        return torch.autograd.grad(f(m + s * eps).mean(), (m, s))

    return reference_of(estimate, lambda mu, sigma, eps, expected: mistakes.pathwise_grad(
        f, mu, sigma, eps, expected), [mu, sigma, eps])


@pytest.mark.question("5.2", weight=2)
def test_pathwise_grad(submission):
    """(grad_mu, grad_sigma) = the gradient of (1/S) sum_s f(mu + sigma eps_s) by autograd."""
    _, _, mu, sigma, eps = pathwise_case()
    check = "pathwise_grad(f, mu, sigma, eps)"
    reply = submission.checked_probe("pathwise_quadratic", *pathwise_case(), module=MODULE,
                                     where=check)
    got = as_parts(reply["value"], 2, check + " (grad_mu, grad_sigma)")
    expected = pathwise_reference()
    consistent = matching_every_part(got, expected["mistakes"])
    for i, name in enumerate(("grad_mu", "grad_sigma")):
        assert_close(got[i], expected["value"][i], check=f"{check}: {name}",
                     inputs={"mu": mu, "sigma": sigma, "eps": eps, "f": "sum_d a_d z_d^2 + c_d z_d"},
                     mistakes=part(consistent, i))


@functools.cache
def score_case():
    """f(k) = table[k], 5 values, 8 samples drawn from softmax(logits)."""
    rng = case_rng("public", "vae.score_function")
    table, logits = rng.uniform(-3, 3, 5), rng.normal(0, 1, 5)
    p = np.exp(logits - logits.max())
    samples = rng.choice(5, size=8, p=p / p.sum()).astype(np.int64)
    return T(table), T(logits), torch.from_numpy(samples)


@functools.cache
def score_reference() -> dict:
    table, logits, samples = score_case()

    def f(k):
        return table[k]

    def estimate(logits, samples):
        (leaf,), _ = leaves_of([logits], [0])
        return torch.autograd.grad((f(samples) * Categorical(logits=leaf).log_prob(samples))
                                   .mean(), leaf)[0]

    return reference_of(estimate, lambda logits, samples, expected: mistakes.score_function_grad(
        f, logits, samples, expected), [logits, samples])


@pytest.mark.question("5.2", weight=2)
def test_score_function_grad(submission):
    """mean_s f(z_s) grad_logits log softmax(logits)[z_s], by autograd on Categorical.log_prob."""
    _, logits, samples = score_case()
    check = "score_function_grad(f, logits, samples)"
    reply = submission.checked_probe("score_function_table", *score_case(), module=MODULE,
                                     where=check)
    expected = score_reference()
    assert_close(reply["value"], expected["value"], check=check, mistakes=expected["mistakes"],
                 inputs={"logits": logits, "samples": samples, "f": "f(k) = table[k]"})


# === Q5.4: bernoulli_log_likelihood, elbo ====================================================
def bernoulli_twin(x, logits):
    return Bernoulli(logits=logits, validate_args=False).log_prob(x).flatten(1).sum(1)


@functools.cache
def bernoulli_case(case):
    """(x, x_logits, w): continuous x in 4-D; "extreme": logits at ±100 against 0, 1 and 0.3."""
    if case == "extreme":
        return (T([[0.0, 1.0, 1.0, 0.0, 0.3, 1.0]]), T([[100.0, -100.0, 100.0, -100.0, 100.0, 0.5]]),
                T([0.7]))
    rng = case_rng("public", "vae.bernoulli")
    shape = (3, 2, 2, 3)
    return T(rng.uniform(0, 1, shape)), T(rng.normal(0, 3, shape)), T(rng.normal(0, 1, 3))


@functools.cache
def bernoulli_reference(case) -> dict:
    x, logits, w = bernoulli_case(case)
    args, leaves = leaves_of([x, logits], [1])
    return reference_of(bernoulli_twin, mistakes.bernoulli_log_likelihood, args, leaves, [w])


def bernoulli_check(case) -> str:
    return "bernoulli_log_likelihood(x, x_logits)" + (" with logits at ±100" if case else "")


@pytest.mark.question("5.4", weight=2)
@pytest.mark.parametrize("case", [0, "extreme"])
def test_bernoulli_log_likelihood_values(submission, case):
    """Bernoulli(logits).log_prob(x) summed over every non-batch dimension, exact and finite at
    logits ±100."""
    x, logits, _ = bernoulli_case(case)
    expected = bernoulli_reference(case)
    assert_close(submission.call(MODULE, "bernoulli_log_likelihood", x, logits),
                 expected["value"], check=bernoulli_check(case),
                 inputs={"x": x, "x_logits": logits}, mistakes=expected["mistakes"])


@pytest.mark.question("5.4")
@pytest.mark.parametrize("case", [0, "extreme"])
def test_bernoulli_log_likelihood_gradient(submission, case):
    """The value, then the gradient of sum(w * log p(x|z)) w.r.t. x_logits (finite at ±100)."""
    x, logits, w = bernoulli_case(case)
    expected = bernoulli_reference(case)
    reply = call_with_grads(submission, "bernoulli_log_likelihood", [x, logits], [1], [w])
    inputs = {"x": x, "x_logits": logits}
    assert_close(reply["value"], expected["value"], check=bernoulli_check(case), inputs=inputs,
                 mistakes=expected["mistakes"])
    assert_gradients(reply, expected, ["x_logits"], inputs=inputs,
                     check=f"{bernoulli_check(case)}, back-propagating sum(w * result)")


def kl_twin(mu, logvar):
    q = Normal(mu, torch.exp(0.5 * logvar))
    return kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)


ELBO_WEIGHT = 1.5


@functools.cache
def elbo_case(case: int):
    """(x, x_logits, mu, logvar); case 1 has logits at ±100."""
    rng = case_rng("public", "vae.elbo", case)
    x = (rng.uniform(size=(4, 6)) < 0.5).astype(np.float64)
    logits = rng.normal(0, 3, (4, 6))
    if case == 1:
        logits[::2, ::2] = 100.0
        logits[1, :3] = -100.0
    return T(x), T(logits), T(rng.normal(0, 1.2, (4, 3))), T(rng.uniform(-3, 1.5, (4, 3)))


@functools.cache
def elbo_reference(case: int) -> dict:
    args, leaves = leaves_of(elbo_case(case), [1, 2, 3])
    return reference_of(lambda x, logits, mu, logvar: (bernoulli_twin(x, logits)
                                                       - kl_twin(mu, logvar)).mean(),
                        mistakes.elbo, args, leaves, [torch.tensor(ELBO_WEIGHT, dtype=torch.float64)])


@functools.cache
def elbo_kl_part(case: int) -> dict:
    """The KL term of each example and the gradients of -1.5 * mean(KL) w.r.t. mu and logvar."""
    _, _, mu, logvar = elbo_case(case)
    (mu_l, logvar_l), _ = leaves_of([mu, logvar], [0, 1])
    kl = kl_twin(mu_l, logvar_l)
    grads = torch.autograd.grad(-ELBO_WEIGHT * kl.mean(), (mu_l, logvar_l))
    return {"kl": kl.detach().numpy(), "grads": [g.numpy() for g in grads]}


def right_given_own_likelihood(submission, case: int, reply) -> bool:
    """Whether the value and gradients of `reply` are those of 1.5 * mean(own - KL), with `own`
    your own bernoulli_log_likelihood: what an elbo right in itself gives when that function
    (checked in its own tests) is wrong, which the grader accepts too."""
    x, logits, _, _ = elbo_case(case)
    B, kl = x.shape[0], elbo_kl_part(case)
    try:
        own = call_with_grads(submission, "bernoulli_log_likelihood", [x, logits], [1],
                              [torch.full((B,), ELBO_WEIGHT / B, dtype=torch.float64)])
        rec = as_array(own["value"], "bernoulli_log_likelihood", "")
        assert_true(rec.shape == (B,), "")
        assert_close(reply["value"], (rec - kl["kl"]).mean(), check="elbo", inputs={})
        assert_true(own["reason"] is None and own["grads"][0] is not None, "")
        for got, want in zip(reply["grads"], [own["grads"][0], *kl["grads"]]):
            assert_true(got is not None, "")
            assert_close(got, want, check="elbo", inputs={})
    except (StudentCodeError, Mismatch):
        return False
    return True


def right_given_own_values(submission, case: int, value) -> bool:
    """Whether `value` is mean(own - KL) with `own` your own bernoulli_log_likelihood."""
    x, logits, _, _ = elbo_case(case)
    try:
        rec = as_array(submission.call(MODULE, "bernoulli_log_likelihood", x, logits),
                       "bernoulli_log_likelihood", "")
        assert_true(rec.shape == (x.shape[0],), "")
        assert_close(value, (rec - elbo_kl_part(case)["kl"]).mean(), check="elbo", inputs={})
    except (StudentCodeError, Mismatch):
        return False
    return True


@pytest.mark.question("5.4", weight=2)
@pytest.mark.parametrize("case", range(2))
def test_elbo_values(submission, case):
    """mean_b [sum_pixels log p(x_b|z_b) - KL(q(z|x_b) || N(0, I))] with torch.distributions, or
    the same with your own bernoulli_log_likelihood (its mistakes are charged in its own
    tests). elbo calls your gaussian_kl too: fix that first (the grader uses its own there,
    which is Q5.5's)."""
    expected = elbo_reference(case)
    got = submission.call(MODULE, "elbo", *elbo_case(case))
    try:
        assert_close(got, expected["value"], check="elbo(x, x_logits, mu, logvar)",
                     inputs=dict(zip(["x", "x_logits", "mu", "logvar"], elbo_case(case))),
                     mistakes=expected["mistakes"])
    except Mismatch:
        if not right_given_own_values(submission, case, got):
            raise


@pytest.mark.question("5.4", weight=1.5)
@pytest.mark.parametrize("case", range(2))
def test_elbo_gradients(submission, case):
    """The value, then the gradients of 1.5 * elbo w.r.t. x_logits, mu and logvar (finite at
    logits ±100), or both as they are with your own bernoulli_log_likelihood."""
    expected = elbo_reference(case)
    inputs = dict(zip(["x", "x_logits", "mu", "logvar"], elbo_case(case)))
    check = "elbo(x, x_logits, mu, logvar)"
    reply = call_with_grads(submission, "elbo", elbo_case(case), [1, 2, 3],
                            [torch.tensor(ELBO_WEIGHT, dtype=torch.float64)])
    try:
        assert_close(reply["value"], expected["value"], check=check, inputs=inputs,
                     mistakes=expected["mistakes"])
        assert_gradients(reply, expected, ["x_logits", "mu", "logvar"], inputs=inputs,
                         check=f"{check}, back-propagating {ELBO_WEIGHT} * elbo")
    except Mismatch:
        if not right_given_own_likelihood(submission, case, reply):
            raise


# === Q5.5: gaussian_kl =======================================================================
@functools.cache
def kl_case(case: int):
    """(mu, logvar, w); case 1 holds the prior itself (KL 0) and logvar -20 / 8."""
    rng = case_rng("public", "vae.gaussian_kl", case)
    mu, logvar = rng.normal(0, 1.5, (3, 4)), rng.uniform(-3, 2, (3, 4))
    if case == 1:
        mu[0], logvar[0] = 0.0, 0.0
        logvar[1] = [-20.0, 8.0, -0.5, 0.0]
    return T(mu), T(logvar), T(rng.normal(0, 1, 3))


@functools.cache
def kl_reference(case: int) -> dict:
    mu, logvar, w = kl_case(case)
    args, leaves = leaves_of([mu, logvar], [0, 1])
    return reference_of(kl_twin, mistakes.gaussian_kl, args, leaves, [w])


@pytest.mark.question("5.5", weight=3)
@pytest.mark.parametrize("case", range(2))
def test_gaussian_kl_values(submission, case):
    """kl_divergence(Normal(mu, exp(logvar/2)), Normal(0, 1)) summed over D, per example."""
    mu, logvar, _ = kl_case(case)
    expected = kl_reference(case)
    assert_close(submission.call(MODULE, "gaussian_kl", mu, logvar), expected["value"],
                 check="gaussian_kl(mu, logvar)", inputs={"mu": mu, "logvar": logvar},
                 mistakes=expected["mistakes"])


@pytest.mark.question("5.5")
def test_gaussian_kl_gradients(submission):
    """The value, then the gradients of sum(w * KL) w.r.t. mu and logvar."""
    mu, logvar, w = kl_case(0)
    expected = kl_reference(0)
    reply = call_with_grads(submission, "gaussian_kl", [mu, logvar], [0, 1], [w])
    check, inputs = "gaussian_kl(mu, logvar)", {"mu": mu, "logvar": logvar}
    assert_close(reply["value"], expected["value"], check=check, inputs=inputs,
                 mistakes=expected["mistakes"])
    assert_gradients(reply, expected, ["mu", "logvar"], inputs=inputs,
                     check=f"{check}, back-propagating sum(w * KL)")


# === Q5.6: reparameterize ====================================================================
@functools.cache
def reparam_case():
    rng = case_rng("public", "vae.reparameterize")
    return tuple(T(v) for v in (rng.normal(0, 1.5, (5, 3)), rng.uniform(-3, 2, (5, 3)),
                                rng.normal(0, 1, (5, 3)), rng.normal(0, 1, (5, 3))))


@functools.cache
def reparam_reference() -> dict:
    mu, logvar, eps, w = reparam_case()
    args, leaves = leaves_of([mu, logvar, eps], [0, 1])
    return reference_of(lambda mu, logvar, eps: mu + Normal(mu, torch.exp(0.5 * logvar)).stddev
                        * eps, mistakes.reparameterize, args, leaves, [w])


@pytest.mark.question("5.6", weight=2)
def test_reparameterize_values(submission):
    """z = mu + exp(logvar / 2) eps."""
    mu, logvar, eps, _ = reparam_case()
    expected = reparam_reference()
    assert_close(submission.call(MODULE, "reparameterize", mu, logvar, eps), expected["value"],
                 check="reparameterize(mu, logvar, eps)",
                 inputs={"mu": mu, "logvar": logvar, "eps": eps}, mistakes=expected["mistakes"])


@pytest.mark.question("5.6", weight=2)
def test_reparameterize_gradients(submission):
    """The value, then the gradients of sum(w * z) w.r.t. mu and logvar: the whole point of the
    trick."""
    mu, logvar, eps, w = reparam_case()
    expected = reparam_reference()
    reply = call_with_grads(submission, "reparameterize", [mu, logvar, eps], [0, 1], [w])
    check, inputs = "reparameterize(mu, logvar, eps)", {"mu": mu, "logvar": logvar, "eps": eps}
    assert_close(reply["value"], expected["value"], check=check, inputs=inputs,
                 mistakes=expected["mistakes"])
    assert_gradients(reply, expected, ["mu", "logvar"], inputs=inputs,
                     check=f"{check}, back-propagating sum(w * z)")


# === Q5.7: categorical_elbo ==================================================================
CAT_WEIGHT = 0.7
CAT_NAMES = ["log_px_given_z", "q_logits", "prior_logits"]
EDGES = ("q_zero", "excluded", "one_hot")


@functools.cache
def cat_case(case):
    """Random inputs with a prior (K,) shared or (B, K) per example; "q_zero": q(k) = 0 for
    some k (those terms count 0); "excluded": q puts mass on a k the prior excludes (KL = +inf,
    ELBO = -inf); "one_hot": q's logits 800 apart, so q(k) underflows to exactly 0.
    ("regular", edge): the edge case's inputs before their zeros were put in."""
    edge = case[1] if isinstance(case, tuple) else case
    rng = case_rng("public", "vae.categorical", edge)
    B, K = 3, 4
    log_px, q = -rng.uniform(0.1, 8, (B, K)), rng.normal(0, 2, (B, K))
    prior = rng.normal(0, 1, (B, K) if edge == "per_example" else K)
    if case == "q_zero":
        q[0, 1] = q[2, 3] = NEG_INF
    elif case == "excluded":
        prior[2] = NEG_INF
    elif case == "one_hot":
        q[:, 1] += 800.0
    return T(log_px), T(q), T(prior)


def cat_twin(log_px, q_logits, prior_logits):
    q = Categorical(logits=q_logits)
    p = Categorical(logits=prior_logits.expand_as(q_logits))
    return ((q.probs * log_px).sum(-1) - kl_divergence(q, p)).mean()


@functools.cache
def cat_reference(case) -> dict:
    """Value, mistakes, gradients of 0.7 * ELBO, and the gradient entries compared: those torch
    gives finite, in examples whose ELBO is finite."""
    args, leaves = leaves_of(cat_case(case), [0, 1, 2])
    found = reference_of(cat_twin, mistakes.categorical_elbo, args, leaves,
                         [torch.tensor(CAT_WEIGHT, dtype=torch.float64)])
    log_px, q_logits, prior_logits = cat_case(case)
    q = Categorical(logits=q_logits)
    rows = torch.isfinite((q.probs * log_px).sum(-1) - kl_divergence(
        q, Categorical(logits=prior_logits.expand_as(q_logits)))).numpy()
    found["compared"] = [np.isfinite(g) & (rows[:, None] if g.ndim == 2 else rows.all())
                         for g in found["grads"]]
    return found


def cat_check(case) -> str:
    return f"categorical_elbo(log_px_given_z, q_logits, prior_logits) ({case})"


@pytest.mark.question("5.7", weight=2)
@pytest.mark.parametrize("case", ["shared", "per_example"])
def test_categorical_elbo_values(submission, case):
    """The exact ELBO by enumeration, the prior (K,) shared or (B, K) per example."""
    expected = cat_reference(case)
    assert_close(submission.call(MODULE, "categorical_elbo", *cat_case(case)), expected["value"],
                 check=cat_check(case), inputs=dict(zip(CAT_NAMES, cat_case(case))),
                 mistakes=expected["mistakes"])


def check_cat_gradients(submission, case, candidates=None) -> None:
    """The value, then the gradients of 0.7 * ELBO where torch's are finite; hints only from
    `candidates` if given."""
    expected = cat_reference(case)
    inputs = dict(zip(CAT_NAMES, cat_case(case)))
    reply = call_with_grads(submission, "categorical_elbo", cat_case(case), [0, 1, 2],
                            [torch.tensor(CAT_WEIGHT, dtype=torch.float64)])
    assert_close(reply["value"], expected["value"], check=cat_check(case), inputs=inputs,
                 mistakes={hint: value for hint, value in expected["mistakes"].items()
                           if candidates is None or hint in candidates})
    assert_gradients(reply, expected, [n if m.any() else None for n, m in
                                       zip(CAT_NAMES, expected["compared"])],
                     check=f"{cat_check(case)}, back-propagating {CAT_WEIGHT} * ELBO",
                     inputs=inputs, where=[np.asarray(m) for m in expected["compared"]],
                     candidates=candidates)


@pytest.mark.question("5.7", weight=1.5)
@pytest.mark.parametrize("case", ["shared", "per_example"])
def test_categorical_elbo_gradients(submission, case):
    check_cat_gradients(submission, case)


@pytest.mark.question("5.7", weight=2.5)
@pytest.mark.parametrize("case", EDGES)
def test_categorical_elbo_zero_probabilities(submission, case):
    """torch.distributions' conventions for zero probabilities: the value (finite, or -inf for
    "excluded"), then the gradients where torch's are finite. A nan or an infinite ELBO alone
    does not tell which formula gave it: a hint comes only from a mistaken formula that also
    gives your ELBO on the same inputs before their zeros were put in."""
    regular = ("regular", case)
    got_regular = submission.call(MODULE, "categorical_elbo", *cat_case(regular))
    check_cat_gradients(submission, case, candidates=set(
        matching_hints(got_regular, cat_reference(regular)["mistakes"])))
