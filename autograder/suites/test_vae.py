"""Q5.1, Q5.2, Q5.4, Q5.5, Q5.6, Q5.7 — auto-encoders, VAEs and their gradients, against torch.

Every reference is computed here, in float64, with torch (torch.distributions Normal, Bernoulli,
Categorical and kl_divergence, autograd, torch.nn.functional), once per kit and torch version
(@reference). Gradients of the student's results come from probes (autograder/probes/
generative.py) that run autograd in the child on leaf tensors and send back the gradients of a
weighted sum of the outputs, with weights chosen here; the grader forms the same sum on its own
formulas (generative.reference_of). Noise is an input (eps, samples): every comparison is
exact, never a Monte-Carlo draw, except the two unbiasedness checks, whose bounds are derived
in their docstrings.

Cross-question calls, as the contract declares them: vae_forward (Q5.1) may call
reparameterize (Q5.6) and elbo (Q5.4) may call gaussian_kl (Q5.5); the plugin grades them with
the kit's own reparameterize and gaussian_kl (autograder/standins.py), so a bug there costs
only its own question. elbo may also call bernoulli_log_likelihood, which is Q5.4's own: an
elbo right given the student's own bernoulli_log_likelihood passes, so a bug there costs Q5.4
once, in the tests of bernoulli_log_likelihood.

Every test that looks at gradients compares the same call's value first: a gradient pays only
with the value right. Hints come from autograder/mistakes/vae.py (the student's value, or
gradient, equals what that mistaken formula gives on the same input). An input changed in place
fails every test (submission.call, and the probes, check them).
"""
import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Categorical, Normal, kl_divergence

from autograder.checks import (Mismatch, as_array, as_parts, assert_close, assert_true,
                               assert_within, case_rng, matching_hints)
from autograder.failures import StudentCodeError
from autograder.mistakes import vae as mistakes
from autograder.probes.generative import leaves_of, mlp_module, module_parameters
from autograder.references import reference
from autograder.suites.generative_checks import (assert_gradients, call_student_with_grads,
                                                 reference_of)

MODULE = "vae"
NEG_INF = float("-inf")


def T(array) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float64))


def part(found: dict, i: int) -> dict:
    """{hint: value[i]} of mistakes whose values are tuples."""
    return {hint: value[i] for hint, value in found.items()}


def matching_every_part(got: list, found: dict) -> dict:
    """The mistakes (hint -> tuple) that reproduce every part of the student's tuple `got`: the
    outputs of one call hang together (z decides x_logits), so a formula that explains one
    output but not the others is not the student's."""
    return {hint: value for hint, value in found.items()
            if all(matching_hints(g, {hint: v}) for g, v in zip(got, value))}


# ----------------------------------------------------------------------------------------------
# Q5.1 — ae_forward, vae_forward, vae_generate with modules built from seeded weights
# ----------------------------------------------------------------------------------------------

AE_SPECS = [  # (x shape, hidden, latent D)
    ((5, 6), 7, 3),
    ((4, 2, 3, 3), 5, 2),
    ((6, 10), 8, 4),
]
PARAMETERS = [f"{module} {name}" for module in ("encoder", "decoder")
              for name in ("W1", "b1", "W2", "b2")]


def mlp_weights(rng, n_in, hidden, n_out):
    W1 = rng.normal(0, 1 / math.sqrt(n_in), (hidden, n_in))
    b1 = rng.normal(0, 0.3, hidden)
    W2 = rng.normal(0, 1 / math.sqrt(hidden), (n_out, hidden))
    b2 = rng.normal(0, 0.3, n_out)
    return [T(W1), T(b1), T(W2), T(b2)]


@functools.cache
def ae_case(case: int, variational: bool):
    """x, encoder weights (to D or 2D), decoder weights (D -> pixels), eps (B, D), generation eps
    (N, D), output weights w and w_gen for the gradients. The logvar half's bias is shifted by
    ±1 so that exp(logvar) and exp(logvar / 2) differ clearly."""
    shape, hidden, D = AE_SPECS[case]
    rng = case_rng("vae.autoencoder", case, variational)
    n_in = int(np.prod(shape[1:]))
    x = T(rng.uniform(0, 1, shape))
    enc = mlp_weights(rng, n_in, hidden, 2 * D if variational else D)
    if variational:   # logvar half around -1 .. 1, mu half around 0
        enc[3] = enc[3] + T(np.r_[np.zeros(D), rng.choice([-1.0, 1.0], D)])
    dec = mlp_weights(rng, D, hidden, n_in)
    eps = T(rng.normal(0, 1, (shape[0], D)))
    n_gen = shape[0] + 2
    gen_eps = T(rng.normal(0, 1, (n_gen, D)))
    w = T(rng.normal(0, 1, shape))
    w_gen = T(rng.normal(0, 1, (n_gen, *shape[1:])))
    return dict(x=x, enc=enc, dec=dec, eps=eps, gen_eps=gen_eps, w=w, w_gen=w_gen,
                out_shape=list(shape[1:]))


def vae_forward_twin(x, encoder, decoder, eps):
    """vae_forward written with torch: [mu | logvar] halves, z = mu + std eps with std the
    Normal(mu, exp(logvar / 2)).stddev."""
    stats = encoder(x)
    d = stats.shape[1] // 2
    mu, logvar = stats[:, :d], stats[:, d:]
    z = mu + Normal(mu, torch.exp(0.5 * logvar)).stddev * eps
    return decoder(z), mu, logvar, z


def autoencoder_call(function: str, case: int):
    """(case data, the probe's x and eps, the output weights) of one Q5.1 function."""
    c = ae_case(case, function != "ae_forward")
    eps = {"ae_forward": None, "vae_forward": c["eps"], "vae_generate": c["gen_eps"]}[function]
    weights = {"ae_forward": [c["w"]], "vae_forward": [c["w"], None, None, None],
               "vae_generate": [c["w_gen"]]}[function]
    return c, eps, weights


@reference
def autoencoder_reference(function: str, case: int) -> dict:
    """The output, the gradients of sum(w * x_logits) w.r.t. both modules' parameters, and the
    same for each mistake of mistakes/vae.py, on nn modules built as the probe builds them."""
    c, eps, weights = autoencoder_call(function, case)
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


def run_autoencoder(submission, function: str, case: int) -> dict:
    c, eps, weights = autoencoder_call(function, case)
    args = {"ae_forward": ("x", "encoder", "decoder"), "vae_forward": ("x", "encoder", "decoder",
            "eps"), "vae_generate": ("decoder", "eps")}[function]
    return submission.checked_probe("call_autoencoder", MODULE, function, c["enc"], c["dec"],
                                    c["out_shape"], c["x"], eps, weights, module=MODULE,
                                    where=f"{function}({', '.join(args)})")


def ae_inputs(c, eps=None):
    found = {"x": c["x"], "encoder": "Flatten, Linear, Tanh, Linear",
             "decoder": "Linear, Tanh, Linear, Unflatten"}
    return found if eps is None else {**found, "eps": eps}


@pytest.mark.question("5.1", weight=1.5)
@pytest.mark.parametrize("case", range(3))
def test_ae_forward_reconstructs(submission, case):
    """decoder(encoder(x)) as logits, then gradients of sum(w * x_logits) reaching both modules'
    weights. Fails: sigmoid applied, noise added to the code, the graph cut (no_grad, detach)."""
    c, _, _ = autoencoder_call("ae_forward", case)
    expected = autoencoder_reference("ae_forward", case)
    reply = run_autoencoder(submission, "ae_forward", case)
    check = "ae_forward(x, encoder, decoder)"
    assert_close(reply["value"], expected["value"], check=check, inputs=ae_inputs(c),
                 mistakes=expected["mistakes"])
    assert_gradients(reply, expected, PARAMETERS, check=f"{check}, back-propagating "
                     f"sum(w * x_logits)", inputs=ae_inputs(c))


def check_vae_outputs(reply, expected, c, order):
    """The outputs of vae_forward named in `order` (indices into (x_logits, mu, logvar, z))."""
    check = "vae_forward(x, encoder, decoder, eps)"
    got = as_parts(reply["value"], 4, check + " (x_logits, mu, logvar, z)")
    names = ["x_logits (1st output)", "mu (2nd output)", "logvar (3rd output)", "z (4th output)"]
    consistent = matching_every_part(got, expected["mistakes"])
    for i in order:
        assert_close(got[i], expected["value"][i], check=f"{check}: {names[i]}",
                     inputs=ae_inputs(c, c["eps"]), mistakes=part(consistent, i))


@pytest.mark.question("5.1", weight=3)
@pytest.mark.parametrize("case", range(3))
def test_vae_forward_outputs(submission, case):
    """(x_logits, mu, logvar, z): the encoder's halves [mu | logvar], z = mu + exp(logvar/2) eps,
    x_logits = decoder(z). Fails: swapped or interleaved halves, std = exp(logvar) or
    exp(-logvar/2), z = mu + logvar eps, eps ignored, decoder(mu), sigmoid applied, the std or
    the variance returned as the third output."""
    c, _, _ = autoencoder_call("vae_forward", case)
    reply = run_autoencoder(submission, "vae_forward", case)
    check_vae_outputs(reply, autoencoder_reference("vae_forward", case), c, [1, 2, 3, 0])


@pytest.mark.question("5.1", weight=1.5)
@pytest.mark.parametrize("case", range(3))
def test_vae_forward_gradients(submission, case):
    """x_logits right, then back-propagating sum(w * x_logits) reaches the encoder's and the
    decoder's weights with torch's values. Fails: mu, logvar or z detached, the encoder run
    under no_grad, numpy, and the mistakes of test_vae_forward_outputs."""
    c, _, _ = autoencoder_call("vae_forward", case)
    expected = autoencoder_reference("vae_forward", case)
    reply = run_autoencoder(submission, "vae_forward", case)
    check_vae_outputs(reply, expected, c, [0])
    assert_gradients(reply, expected, PARAMETERS,
                     check="vae_forward(x, encoder, decoder, eps), back-propagating "
                           "sum(w * x_logits)", inputs=ae_inputs(c, c["eps"]))


@pytest.mark.question("5.1", weight=1.5)
@pytest.mark.parametrize("case", range(3))
def test_vae_generate_decodes_prior_samples(submission, case):
    """decoder(eps) on N prior samples (N differs from the training batch), then gradients of
    sum(w * logits) reaching the decoder's weights. Fails: sigmoid applied, fresh noise
    (torch.randn) or rescaled eps, encoding first, the graph cut."""
    c, eps, _ = autoencoder_call("vae_generate", case)
    expected = autoencoder_reference("vae_generate", case)
    reply = run_autoencoder(submission, "vae_generate", case)
    check = "vae_generate(decoder, eps)"
    inputs = {"eps": eps, "decoder": "Linear, Tanh, Linear, Unflatten"}
    assert_close(reply["value"], expected["value"], check=check, inputs=inputs,
                 mistakes=expected["mistakes"])
    assert_gradients(reply, expected, [None] * 4 + PARAMETERS[4:],
                     check=f"{check}, back-propagating sum(w * logits)", inputs=inputs)


# ----------------------------------------------------------------------------------------------
# Q5.2 — pathwise and score-function estimators
# ----------------------------------------------------------------------------------------------

# Unbiasedness is checked on many samples; the exact estimator on a few.
PATHWISE_SPECS = [(3, 5), (1, 1), (5, 8), (4, 3)]   # (D, S)
UNBIASED = -1                                        # the case of the unbiasedness checks
UNBIASED_S = 5000
Z_PROBABILITY = 1e-9


def z_value(coordinates: int) -> float:
    """z with P(|N(0,1)| > z) = 1e-9 / coordinates: a union bound over the coordinates."""
    return float(-torch.special.ndtri(torch.tensor(Z_PROBABILITY / (2 * coordinates),
                                                   dtype=torch.float64)))


@functools.cache
def pathwise_case(case: int):
    """f(z) = sum_d a_d z_d^2 + c_d z_d; sigma on both sides of 1 so that d/d sigma and
    d/d log sigma = sigma d/d sigma differ; mu, a, c random."""
    D, S = PATHWISE_SPECS[case] if case != UNBIASED else (3, UNBIASED_S)
    rng = case_rng("vae.pathwise", case)
    a = rng.choice([-1.0, 1.0], D) * rng.uniform(0.5, 1.5, D)
    c = rng.normal(0, 1, D)
    mu = rng.normal(0, 1, D)
    sigma = np.where(rng.uniform(size=D) < 0.5, rng.uniform(0.2, 0.5, D), rng.uniform(1.6, 2.5, D))
    if case == UNBIASED:
        sigma = np.array([0.3, 2.0, 0.4])
    eps = rng.normal(0, 1, (S, D))
    return T(a), T(c), T(mu), T(sigma), T(eps)


def f_quadratic(a, c):
    return lambda z: (a * z**2 + c * z).sum(dim=-1)


def pathwise_estimate(f, mu, sigma, eps):
    """The gradient of (1/S) sum_s f(mu + sigma eps_s) w.r.t. (mu, sigma), by autograd."""
    (m, s), _ = leaves_of([mu, sigma], [0, 1])
    return torch.autograd.grad(f(m + s * eps).mean(), (m, s))


@reference
def pathwise_reference(case: int) -> dict:
    a, c, mu, sigma, eps = pathwise_case(case)
    f = f_quadratic(a, c)
    return reference_of(lambda mu, sigma, eps: pathwise_estimate(f, mu, sigma, eps),
                        lambda mu, sigma, eps, expected: mistakes.pathwise_grad(
                            f, mu, sigma, eps, expected), [mu, sigma, eps])


def pathwise_inputs(case):
    _, _, mu, sigma, eps = pathwise_case(case)
    return {"mu": mu, "sigma": sigma, "eps": eps, "f": "sum_d a_d z_d^2 + c_d z_d"}


def run_pathwise(submission, case):
    check = "pathwise_grad(f, mu, sigma, eps)"
    reply = submission.checked_probe("pathwise_quadratic", *pathwise_case(case), module=MODULE,
                                     where=check)
    return as_parts(reply["value"], 2, check + " (grad_mu, grad_sigma)")


@pytest.mark.question("5.2", weight=2)
@pytest.mark.parametrize("case", range(len(PATHWISE_SPECS)))
def test_pathwise_matches_estimator(submission, case):
    """(grad_mu, grad_sigma) equal the gradient of (1/S) sum_s f(mu + sigma eps_s) computed by
    autograd on the same eps. Fails: d/d log sigma, sigma read as a variance, a log-std or a
    log-variance, the eps factor forgotten, a sum over samples, a sign error, the two gradients
    swapped, a detached sigma."""
    expected = pathwise_reference(case)
    got = run_pathwise(submission, case)
    consistent = matching_every_part(got, expected["mistakes"])
    for i, name in enumerate(("grad_mu", "grad_sigma")):
        assert_close(got[i], expected["value"][i],
                     check=f"pathwise_grad(f, mu, sigma, eps): {name}",
                     inputs=pathwise_inputs(case), mistakes=part(consistent, i))


@reference
def pathwise_bounds() -> dict:
    """The exact gradient of E[f(z)] and the allowed deviation of each coordinate: see
    test_pathwise_is_unbiased."""
    a, c, mu, sigma, eps = pathwise_case(UNBIASED)
    (mu_l, sigma_l), _ = leaves_of([mu, sigma], [0, 1])
    q = Normal(mu_l, sigma_l)
    exact = torch.autograd.grad((a * (q.variance + q.mean**2) + c * q.mean).sum(), (mu_l, sigma_l))
    z_l = (mu + sigma * eps).requires_grad_()
    (per_z,) = torch.autograd.grad(f_quadratic(a, c)(z_l).sum(), z_l)    # df/dz per sample
    per_sample = torch.cat([per_z, per_z * eps], dim=1)                  # (S, 2D) terms
    bound = z_value(per_sample.shape[1]) * per_sample.std(dim=0) / math.sqrt(eps.shape[0])
    D = mu.shape[0]
    return {"exact": [exact[0].numpy(), exact[1].numpy()],
            "bound": [bound[:D].numpy(), bound[D:].numpy()]}


def assert_unbiased(got, exact, bound, *, check: str, name: str, inputs: dict) -> None:
    """Every coordinate of `got` within z·sd/√S (+ the float tolerance) of the exact one."""
    have = as_array(got, check, name)
    assert_true(have.shape == exact.shape, f"{check}: {name} has shape {have.shape}, expected "
                                           f"{exact.shape}")
    for d, (value, mean, allowed) in enumerate(zip(have, exact, bound)):
        slack = allowed + 1e-6 + 1e-4 * abs(mean)
        assert_within(float(value), mean - slack, mean + slack, check=check, inputs=inputs,
                      what=f"{name}[{d}] (the exact gradient of E[f(z)] is {mean:.6g}, sampling "
                           f"noise allows ±{allowed:.3g}: the estimate is biased)")


@pytest.mark.question("5.2", weight=1)
def test_pathwise_is_unbiased(submission):
    """The estimate on S = 5000 samples is within sampling noise of the analytic gradient.

    For f(z) = sum_d a_d z_d^2 + c_d z_d and z ~ N(mu, sigma^2): E[f] = sum_d a_d (mu_d^2 +
    sigma_d^2) + c_d mu_d, differentiated by autograd here. The estimate is the mean of S i.i.d.
    per-sample terms g_s (df/dz_s for mu, df/dz_s * eps_s for sigma, computed here by autograd);
    by the central limit theorem, for each of the m = 2D coordinates,
    P(|mean - E| > z sd / sqrt(S)) ~ 2 (1 - Phi(z)). With z = Phi^-1(1 - 1e-9 / (2m)), a union
    bound gives probability <= 1e-9 that any coordinate of an unbiased estimate falls outside;
    sd is the per-coordinate sample standard deviation of the g_s (S = 5000 makes its error
    ~1%, far below the margin between z ~ 6.3 and what the bugs produce). eps is seeded, so the
    check is also deterministic. Fails: d/d log sigma (sigma = 0.3, 0.4, 2.0 move it by
    2 a sigma (sigma - 1)), sigma read as a variance, the eps factor forgotten, a sum over samples.
    """
    bounds = pathwise_bounds()
    got = run_pathwise(submission, UNBIASED)
    check = (f"pathwise_grad(f, mu, sigma, eps) on S = {UNBIASED_S} samples vs the exact "
             f"gradient of E[f(z)]")
    for i, name in enumerate(("grad_mu", "grad_sigma")):
        assert_unbiased(got[i], bounds["exact"][i], bounds["bound"][i], check=check, name=name,
                        inputs=pathwise_inputs(UNBIASED))


SCORE_SPECS = [(4, 6), (3, 1), (6, 10), (2, 4)]   # (K, S)


@functools.cache
def score_case(case: int):
    """A table f(k) = table[k], logits and samples drawn from softmax(logits) (seeded)."""
    K, S = SCORE_SPECS[case] if case != UNBIASED else (5, UNBIASED_S)
    rng = case_rng("vae.score_function", case)
    table = rng.uniform(-3, 3, K)
    logits = rng.normal(0, 1, K)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    samples = rng.choice(K, size=S, p=p).astype(np.int64)
    return T(table), T(logits), torch.from_numpy(samples)


def score_estimate(f, logits, samples):
    """mean_s f(z_s) grad log Categorical(logits).prob(z_s), by autograd."""
    (leaf,), _ = leaves_of([logits], [0])
    return torch.autograd.grad((f(samples) * Categorical(logits=leaf).log_prob(samples)).mean(),
                               leaf)[0]


@reference
def score_reference(case: int) -> dict:
    table, logits, samples = score_case(case)

    def f(k):
        return table[k]

    return reference_of(lambda logits, samples: score_estimate(f, logits, samples),
                        lambda logits, samples, expected: mistakes.score_function_grad(
                            f, logits, samples, expected), [logits, samples])


def score_inputs(case):
    _, logits, samples = score_case(case)
    return {"logits": logits, "samples": samples, "f": "table lookup f(k) = table[k]"}


def run_score(submission, case):
    return submission.checked_probe("score_function_table", *score_case(case), module=MODULE,
                                    where="score_function_grad(f, logits, samples)")["value"]


@pytest.mark.question("5.2", weight=2)
@pytest.mark.parametrize("case", range(len(SCORE_SPECS)))
def test_score_function_matches_estimator(submission, case):
    """mean_s f(z_s) grad_logits log softmax(logits)[z_s] on the given samples, by autograd on
    Categorical(logits).log_prob. Fails: grad softmax or grad logits[z] instead of grad log
    softmax, a sign error, a sum over samples, a baseline, f left out."""
    expected = score_reference(case)
    assert_close(run_score(submission, case), expected["value"],
                 check="score_function_grad(f, logits, samples)", inputs=score_inputs(case),
                 mistakes=expected["mistakes"])


@reference
def score_bounds() -> dict:
    """The exact gradient of E[f(z)] = sum_k softmax(logits)_k table_k and the allowed deviation:
    see test_score_function_is_unbiased."""
    table, logits, samples = score_case(UNBIASED)
    (leaf,), _ = leaves_of([logits], [0])
    (exact,) = torch.autograd.grad((Categorical(logits=leaf).probs * table).sum(), leaf)
    K = logits.shape[0]
    per_sample = table[samples][:, None] * (F.one_hot(samples, K).to(torch.float64)
                                            - torch.softmax(logits, -1))          # (S, K)
    bound = z_value(K) * per_sample.std(dim=0) / math.sqrt(samples.shape[0])
    return {"exact": exact.numpy(), "bound": bound.numpy()}


@pytest.mark.question("5.2", weight=1)
def test_score_function_is_unbiased(submission):
    """The estimate on S = 5000 samples is within sampling noise of the analytic gradient of
    E[f(z)] = sum_k softmax(logits)_k table_k (autograd here). Bound as in
    test_pathwise_is_unbiased, with m = K coordinates and the per-sample terms
    f(z_s) (onehot(z_s) - softmax(logits)) computed here. Fails: grad softmax (biased by a factor
    ~ q(z)), a sign error, a sum over samples, f left out."""
    bounds = score_bounds()
    check = (f"score_function_grad(f, logits, samples) on S = {UNBIASED_S} samples vs the exact "
             f"gradient of E[f(z)]")
    assert_unbiased(run_score(submission, UNBIASED), bounds["exact"], bounds["bound"],
                    check=check, name="the estimate", inputs=score_inputs(UNBIASED))


# ----------------------------------------------------------------------------------------------
# Q5.4 — bernoulli_log_likelihood and elbo
# ----------------------------------------------------------------------------------------------

BERNOULLI_SPECS = [((4, 6), "binary"), ((3, 2, 4, 4), "continuous"), ((5, 10), "binary"),
                   ((2, 3, 5), "continuous")]


@functools.cache
def bernoulli_case(case):
    """(x, x_logits, w): binary or continuous x, 2-D to 4-D; "extreme": logits at ±100 against
    targets 0, 1 and 0.3 (sigmoid rounds to 0 or 1 there; a confidently wrong pixel has log p =
    -100)."""
    if case == "extreme":
        rng = case_rng("vae.bernoulli.extreme")
        logits = rng.choice([-100.0, 100.0], (4, 6))
        logits[0, :3] = [100.0, -100.0, 0.5]
        x = rng.choice([0.0, 1.0, 0.3], (4, 6))
        x[0, :2] = [0.0, 1.0]
        return T(x), T(logits), T(rng.normal(0, 1, 4))
    shape, kind = BERNOULLI_SPECS[case]
    rng = case_rng("vae.bernoulli", case)
    x = (rng.uniform(size=shape) < 0.4).astype(np.float64) if kind == "binary" else \
        rng.uniform(0, 1, shape)
    logits = rng.normal(0, 3, shape)
    w = rng.normal(0, 1, shape[0])
    return T(x), T(logits), T(w)


def bernoulli_twin(x, logits):
    """log p(x|z) summed over pixels, from torch.distributions (x may be any value in [0, 1])."""
    return Bernoulli(logits=logits, validate_args=False).log_prob(x).flatten(1).sum(1)


@reference
def bernoulli_reference(case) -> dict:
    x, logits, w = bernoulli_case(case)
    args, leaves = leaves_of([x, logits], [1])
    return reference_of(bernoulli_twin, mistakes.bernoulli_log_likelihood, args, leaves, [w])


def bernoulli_inputs(case):
    x, logits, _ = bernoulli_case(case)
    return {"x": x, "x_logits": logits}


@pytest.mark.question("5.4", weight=2)
@pytest.mark.parametrize("case", range(len(BERNOULLI_SPECS)))
def test_bernoulli_log_likelihood_values(submission, case):
    """Bernoulli(logits).log_prob(x) summed over every non-batch dimension, binary and
    continuous x, 2-D to 4-D. Fails: mean over pixels, sign (BCE), a scalar (mean or sum over
    the batch), a sum over the last axis only, a term missing, targets swapped."""
    x, logits, _ = bernoulli_case(case)
    expected = bernoulli_reference(case)
    assert_close(submission.call(MODULE, "bernoulli_log_likelihood", x, logits),
                 expected["value"], check="bernoulli_log_likelihood(x, x_logits)",
                 inputs=bernoulli_inputs(case), mistakes=expected["mistakes"])


@pytest.mark.question("5.4", weight=1)
def test_bernoulli_log_likelihood_at_extreme_logits(submission):
    """Exact and finite for logits at ±100 (log p = -100 for a confidently wrong pixel).
    Fails: log(sigmoid), log(1 - sigmoid) (-inf, nan = 0 * -inf), clamped probabilities
    (log(1e-7) = -16 instead of -100), and the mistakes of the test above."""
    x, logits, _ = bernoulli_case("extreme")
    expected = bernoulli_reference("extreme")
    assert_close(submission.call(MODULE, "bernoulli_log_likelihood", x, logits),
                 expected["value"], check="bernoulli_log_likelihood(x, x_logits) with logits "
                 "at ±100", inputs=bernoulli_inputs("extreme"), mistakes=expected["mistakes"])


@pytest.mark.question("5.4", weight=1)
@pytest.mark.parametrize("case", [0, "extreme"])
def test_bernoulli_log_likelihood_gradient(submission, case):
    """The value, then the gradient of sum(w * log p(x|z)) w.r.t. x_logits equals torch's
    (w_b (x - sigmoid(l))); finite at ±100. Fails: a detached result, a log-likelihood through
    probabilities (F.binary_cross_entropy: zero gradient at ±100), nan gradients of
    log(1 - sigmoid)."""
    x, logits, w = bernoulli_case(case)
    expected = bernoulli_reference(case)
    check = "bernoulli_log_likelihood(x, x_logits)"
    reply = call_student_with_grads(submission, MODULE, "bernoulli_log_likelihood", [x, logits],
                                    [1], [w])
    assert_close(reply["value"], expected["value"], check=check, inputs=bernoulli_inputs(case),
                 mistakes=expected["mistakes"])
    assert_gradients(reply, expected, ["x_logits"], check=f"{check}, back-propagating "
                     f"sum(w * result)", inputs=bernoulli_inputs(case))


ELBO_SPECS = [((4, 6), 3, False), ((3, 2, 3, 3), 2, False), ((5, 8), 4, True)]
ELBO_WEIGHT = 1.5


@functools.cache
def elbo_case(case):
    shape, D, extreme = ELBO_SPECS[case]
    rng = case_rng("vae.elbo", case)
    x = (rng.uniform(size=shape) < 0.5).astype(np.float64)
    if case == 1:
        x = rng.uniform(0, 1, shape)
    logits = rng.normal(0, 3, shape)
    if extreme:
        logits.flat[rng.choice(logits.size, logits.size // 3, replace=False)] = 100.0
        logits.flat[:3] = -100.0
    mu = rng.normal(0, 1.2, (shape[0], D))
    logvar = rng.uniform(-3, 1.5, (shape[0], D))
    return T(x), T(logits), T(mu), T(logvar)


def kl_twin(mu, logvar):
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per example, from torch.distributions."""
    q = Normal(mu, torch.exp(0.5 * logvar))
    return kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)


def elbo_twin(x, logits, mu, logvar):
    return (bernoulli_twin(x, logits) - kl_twin(mu, logvar)).mean()


@reference
def elbo_reference(case: int) -> dict:
    args, leaves = leaves_of(elbo_case(case), [1, 2, 3])
    return reference_of(elbo_twin, mistakes.elbo, args, leaves,
                        [torch.tensor(ELBO_WEIGHT, dtype=torch.float64)])


def elbo_inputs(case):
    return dict(zip(["x", "x_logits", "mu", "logvar"], elbo_case(case)))


@reference
def elbo_kl_part(case: int) -> dict:
    """The KL term of each example and the gradients of -1.5 * mean(KL) w.r.t. mu and logvar:
    what an elbo adds to its log-likelihood term (see right_given_own_likelihood)."""
    _, _, mu, logvar = elbo_case(case)
    (mu_l, logvar_l), _ = leaves_of([mu, logvar], [0, 1])
    kl = kl_twin(mu_l, logvar_l)
    grads = torch.autograd.grad(-ELBO_WEIGHT * kl.mean(), (mu_l, logvar_l))
    return {"kl": kl.detach().numpy(), "grads": [g.numpy() for g in grads]}


def right_given_own_likelihood(submission, case: int, value, grads=None) -> bool:
    """Whether `value` (and `grads`, w.r.t. x_logits, mu, logvar) are those of 1.5 * the mean
    of own - KL, with `own` the student's own bernoulli_log_likelihood: what an elbo right in
    itself gives when that function, graded in its own tests, is wrong."""
    x, logits, _, _ = elbo_case(case)
    B, kl = x.shape[0], elbo_kl_part(case)
    try:
        own = call_student_with_grads(submission, MODULE, "bernoulli_log_likelihood",
                                      [x, logits], [1],
                                      [torch.full((B,), ELBO_WEIGHT / B, dtype=torch.float64)])
        rec = as_array(own["value"], "bernoulli_log_likelihood", "")
        assert_true(rec.shape == (B,), "")
        assert_close(value, (rec - kl["kl"]).mean(), check="elbo", inputs={})
        if grads is not None:
            assert_true(own["reason"] is None and own["grads"][0] is not None, "")
            for got, want in zip(grads, [own["grads"][0], *kl["grads"]]):
                assert_true(got is not None, "")
                assert_close(got, want, check="elbo", inputs={})
    except (StudentCodeError, Mismatch):
        return False
    return True


@pytest.mark.question("5.4", weight=2)
@pytest.mark.parametrize("case", range(len(ELBO_SPECS)))
def test_elbo_values(submission, case):
    """mean_b [sum_pixels log p(x_b|z_b) - KL(q(z|x_b) || N(0, I))], torch.distributions, or
    the same with the student's own bernoulli_log_likelihood (its mistakes are charged in its
    own tests). Fails: +KL, a sum over the batch, -ELBO returned, a (B,) result, a
    pixel-averaged likelihood written inline, a term missing, log(sigmoid) at ±100 (case 2); in
    a KL written inline: no 1/2, logvar read as log sigma, a mean over D."""
    expected = elbo_reference(case)
    got = submission.call(MODULE, "elbo", *elbo_case(case))
    try:
        assert_close(got, expected["value"], check="elbo(x, x_logits, mu, logvar)",
                     inputs=elbo_inputs(case), mistakes=expected["mistakes"])
    except Mismatch:
        if not right_given_own_likelihood(submission, case, got):
            raise


@pytest.mark.question("5.4", weight=1.5)
@pytest.mark.parametrize("case", range(len(ELBO_SPECS)))
def test_elbo_gradients(submission, case):
    """The value, then the gradient of 1.5 * elbo w.r.t. x_logits, mu and logvar equals torch's
    autograd on the torch.distributions ELBO (or on the same with the student's own
    bernoulli_log_likelihood); finite at logits ±100. Fails: detached terms, nan gradients of
    log(1 - sigmoid), and the mistakes of test_elbo_values."""
    expected = elbo_reference(case)
    check = "elbo(x, x_logits, mu, logvar)"
    reply = call_student_with_grads(submission, MODULE, "elbo", elbo_case(case), [1, 2, 3],
                                    [torch.tensor(ELBO_WEIGHT, dtype=torch.float64)])
    try:
        assert_close(reply["value"], expected["value"], check=check, inputs=elbo_inputs(case),
                     mistakes=expected["mistakes"])
        assert_gradients(reply, expected, ["x_logits", "mu", "logvar"],
                         check=f"{check}, back-propagating {ELBO_WEIGHT} * elbo",
                         inputs=elbo_inputs(case))
    except Mismatch:
        if reply["reason"] is not None or not right_given_own_likelihood(
                submission, case, reply["value"], reply["grads"]):
            raise


# ----------------------------------------------------------------------------------------------
# Q5.5 — gaussian_kl
# ----------------------------------------------------------------------------------------------

KL_SPECS = [(4, 3), (1, 5), (6, 2), (3, 4)]


@functools.cache
def kl_case(case):
    B, D = KL_SPECS[case]
    rng = case_rng("vae.gaussian_kl", case)
    mu = rng.normal(0, 1.5, (B, D))
    logvar = rng.uniform(-3, 2, (B, D))
    if case == 3:   # the prior itself (KL 0) in one row, a very narrow/wide q in another
        mu[0], logvar[0] = 0.0, 0.0
        logvar[1] = [-20.0, 8.0, -0.5, 0.0][:D]
    w = rng.normal(0, 1, B)
    return T(mu), T(logvar), T(w)


@reference
def kl_reference(case: int) -> dict:
    mu, logvar, w = kl_case(case)
    args, leaves = leaves_of([mu, logvar], [0, 1])
    return reference_of(kl_twin, mistakes.gaussian_kl, args, leaves, [w])


def kl_inputs(case):
    return dict(zip(["mu", "logvar"], kl_case(case)))


@pytest.mark.question("5.5", weight=3)
@pytest.mark.parametrize("case", range(len(KL_SPECS)))
def test_gaussian_kl_values(submission, case):
    """kl_divergence(Normal(mu, exp(logvar/2)), Normal(0, 1)) summed over D, per example; case 3
    holds a row equal to the prior (KL 0) and logvar -20 / 8. Fails: no 1/2, the sign, a sign
    inside, +1 or no -1, mu not squared, logvar read as log std or as the variance, a mean over
    D, the reversed KL, a (B, D) result, a sum or mean over the batch."""
    mu, logvar, _ = kl_case(case)
    expected = kl_reference(case)
    assert_close(submission.call(MODULE, "gaussian_kl", mu, logvar), expected["value"],
                 check="gaussian_kl(mu, logvar)", inputs=kl_inputs(case),
                 mistakes=expected["mistakes"])


@pytest.mark.question("5.5", weight=1)
@pytest.mark.parametrize("case", [0, 2])
def test_gaussian_kl_gradients(submission, case):
    """The value, then the gradients of sum(w * KL) w.r.t. mu and logvar equal torch's
    (w mu, w (exp(logvar) - 1)/2). Fails: a result rebuilt from Python floats or numpy (no
    graph), a detached term, and the mistakes of test_gaussian_kl_values."""
    mu, logvar, w = kl_case(case)
    expected = kl_reference(case)
    reply = call_student_with_grads(submission, MODULE, "gaussian_kl", [mu, logvar], [0, 1], [w])
    check = "gaussian_kl(mu, logvar)"
    assert_close(reply["value"], expected["value"], check=check, inputs=kl_inputs(case),
                 mistakes=expected["mistakes"])
    assert_gradients(reply, expected, ["mu", "logvar"],
                     check=f"{check}, back-propagating sum(w * KL)", inputs=kl_inputs(case))


# ----------------------------------------------------------------------------------------------
# Q5.6 — reparameterize
# ----------------------------------------------------------------------------------------------

REPARAM_SHAPES = [(4, 3), (7, 5), (1, 8)]


@functools.cache
def reparam_case(case):
    rng = case_rng("vae.reparameterize", case)
    shape = REPARAM_SHAPES[case]
    mu = rng.normal(0, 1.5, shape)
    logvar = rng.uniform(-3, 2, shape)
    eps = rng.normal(0, 1, shape)
    w = rng.normal(0, 1, shape)
    return T(mu), T(logvar), T(eps), T(w)


def reparam_twin(mu, logvar, eps):
    return mu + Normal(mu, torch.exp(0.5 * logvar)).stddev * eps


@reference
def reparam_reference(case: int) -> dict:
    mu, logvar, eps, w = reparam_case(case)
    args, leaves = leaves_of([mu, logvar, eps], [0, 1])
    return reference_of(reparam_twin, mistakes.reparameterize, args, leaves, [w])


def reparam_inputs(case):
    return dict(zip(["mu", "logvar", "eps"], reparam_case(case)))


@pytest.mark.question("5.6", weight=2)
@pytest.mark.parametrize("case", range(len(REPARAM_SHAPES)))
def test_reparameterize_values(submission, case):
    """z = mu + exp(logvar / 2) eps. Fails: std = exp(logvar), exp(logvar) / 2, exp(-logvar/2)
    or sqrt(logvar) (nan), logvar * eps, eps ignored or subtracted, eps modified in place."""
    mu, logvar, eps, _ = reparam_case(case)
    expected = reparam_reference(case)
    assert_close(submission.call(MODULE, "reparameterize", mu, logvar, eps), expected["value"],
                 check="reparameterize(mu, logvar, eps)", inputs=reparam_inputs(case),
                 mistakes=expected["mistakes"])


@pytest.mark.question("5.6", weight=2)
@pytest.mark.parametrize("case", range(len(REPARAM_SHAPES)))
def test_reparameterize_gradients(submission, case):
    """The value, then the gradients of sum(w * z) w.r.t. mu and logvar equal autograd's (w,
    and w eps exp(logvar / 2) / 2): the whole point of the trick. Fails: a detached mu or
    logvar (values right, no gradient), and the mistakes of test_reparameterize_values."""
    mu, logvar, eps, w = reparam_case(case)
    expected = reparam_reference(case)
    reply = call_student_with_grads(submission, MODULE, "reparameterize", [mu, logvar, eps],
                                    [0, 1], [w])
    check = "reparameterize(mu, logvar, eps)"
    assert_close(reply["value"], expected["value"], check=check, inputs=reparam_inputs(case),
                 mistakes=expected["mistakes"])
    assert_gradients(reply, expected, ["mu", "logvar"],
                     check=f"{check}, back-propagating sum(w * z)", inputs=reparam_inputs(case))


# ----------------------------------------------------------------------------------------------
# Q5.7 — categorical_elbo
# ----------------------------------------------------------------------------------------------

CAT_SPECS = [(4, 3, "shared"), (5, 6, "per_example"), (1, 4, "shared"), (3, 5, "per_example")]
CAT_EDGES = ["q_zero", "both_zero", "excluded", "one_hot"]
CAT_WEIGHT = 0.7
CAT_NAMES = ["log_px_given_z", "q_logits", "prior_logits"]


@functools.cache
def cat_case(case):
    """Random inputs, prior (K,) shared or (B, K); or an edge case with zero probabilities
    (logit -inf) and a nearly one-hot q, as torch.distributions treats them:
    - q_zero: q(k) = 0 for some k (prior > 0 there): those terms count 0;
    - both_zero: the prior excludes k and q does too: the term counts 0 (KL finite);
    - excluded: q puts mass on a k the prior excludes: KL = +inf, ELBO = -inf;
    - one_hot: q logits 800 apart, so q(k) underflows to exactly 0: the term counts 0.
    ("regular", edge) is the edge case's inputs before their zeros were put in."""
    if case in CAT_EDGES or isinstance(case, tuple):
        edge = case if case in CAT_EDGES else case[1]
        rng = case_rng("vae.categorical.edge", edge)
        B, K = 4, 5
        log_px = -rng.uniform(0.1, 8, (B, K))
        q = rng.normal(0, 2, (B, K))
        prior = rng.normal(0, 1, (B, K))
        if edge in ("q_zero", "one_hot"):
            prior = prior[0]
        if case in CAT_EDGES:
            put_edge(edge, q, prior)
        return T(log_px), T(q), T(prior)
    B, K, prior_kind = CAT_SPECS[case]
    rng = case_rng("vae.categorical", case)
    log_px = -rng.uniform(0.1, 8, (B, K))
    q_logits = rng.normal(0, 2, (B, K))
    prior = rng.normal(0, 1, K if prior_kind == "shared" else (B, K))
    return T(log_px), T(q_logits), T(prior)


def put_edge(edge: str, q: np.ndarray, prior: np.ndarray) -> None:
    """Write the edge case's zero probabilities into the logits."""
    if edge == "q_zero":
        q[0, 1] = q[2, 4] = q[2, 0] = NEG_INF
    elif edge == "both_zero":
        prior[:, 2] = prior[1, 4] = NEG_INF
        q[:, 2] = q[1, 4] = NEG_INF
    elif edge == "excluded":
        prior[1, 3] = NEG_INF
    elif edge == "one_hot":
        q[:, 0] += 800.0
        q[3, 2] += 1600.0


def cat_twin(log_px, q_logits, prior_logits):
    """mean_b [E_q log p(x|z) - KL(q || p)] with torch.distributions.Categorical (its KL gives
    0 where q(k) = 0 and +inf where only the prior is 0)."""
    q = Categorical(logits=q_logits)
    p = Categorical(logits=prior_logits.expand_as(q_logits))
    return ((q.probs * log_px).sum(-1) - kl_divergence(q, p)).mean()


@reference
def cat_reference(case) -> dict:
    """Value, mistakes, gradients of 0.7 * ELBO; and which gradient entries are compared:
    those torch gives finite in examples whose ELBO is finite (the gradient of an infinite
    value means nothing: torch's is an artefact of how it writes its +inf)."""
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


def cat_inputs(case):
    return dict(zip(CAT_NAMES, cat_case(case)))


def check_cat_gradients(submission, case, check, candidates=None):
    """The value, then the gradients of 0.7 * ELBO; hints only from `candidates` if given."""
    expected = cat_reference(case)
    reply = call_student_with_grads(submission, MODULE, "categorical_elbo", cat_case(case),
                                    [0, 1, 2], [torch.tensor(CAT_WEIGHT, dtype=torch.float64)])
    assert_close(reply["value"], expected["value"], check=check, inputs=cat_inputs(case),
                 mistakes={hint: value for hint, value in expected["mistakes"].items()
                           if candidates is None or hint in candidates})
    assert_gradients(reply, expected, [n if m.any() else None for n, m in
                                       zip(CAT_NAMES, expected["compared"])],
                     check=f"{check}, back-propagating {CAT_WEIGHT} * ELBO",
                     inputs=cat_inputs(case), where=[np.asarray(m) for m in expected["compared"]],
                     candidates=candidates)


@pytest.mark.question("5.7", weight=2)
@pytest.mark.parametrize("case", range(len(CAT_SPECS)))
def test_categorical_elbo_values(submission, case):
    """Exact ELBO by enumeration, prior (K,) shared or (B, K). Fails: reversed KL, +KL, -ELBO,
    unnormalised q or prior logits used as log-probabilities, a likelihood unweighted or
    weighted by the prior, a term missing, a sum over the batch, a (B,) result."""
    expected = cat_reference(case)
    assert_close(submission.call(MODULE, "categorical_elbo", *cat_case(case)),
                 expected["value"], check="categorical_elbo(log_px_given_z, q_logits, "
                 "prior_logits)", inputs=cat_inputs(case), mistakes=expected["mistakes"])


@pytest.mark.question("5.7", weight=1.5)
@pytest.mark.parametrize("case", range(len(CAT_SPECS)))
def test_categorical_elbo_gradients(submission, case):
    """The value, then the gradients of 0.7 * ELBO w.r.t. log_px_given_z, q_logits and
    prior_logits equal torch's autograd on the torch.distributions ELBO. Fails: detached q or
    prior, and the mistakes of test_categorical_elbo_values."""
    check_cat_gradients(submission, case, "categorical_elbo(log_px_given_z, q_logits, "
                                          "prior_logits)")


@pytest.mark.question("5.7", weight=2.5)
@pytest.mark.parametrize("edge", CAT_EDGES)
def test_categorical_elbo_zero_probabilities(submission, edge):
    """torch.distributions' conventions, see cat_case: value equal (finite, or -inf for
    'excluded'), then gradients equal where torch's are finite, in examples whose ELBO is
    finite (torch's q-logit gradients are nan in rows holding a zero probability: not
    compared). Fails: nan from 0 log 0 or 0 * (-inf - -inf), log(p + 1e-10) (finite instead of
    -inf), log(softmax) underflowing on a nearly one-hot q (a nan value, or a nan gradient when
    masked), nan gradients where torch's are finite. A nan or an infinite ELBO alone does not
    tell which formula gave it, so a hint is given only by a mistaken formula that also
    reproduces the student's ELBO on the same inputs before their zeros were put in."""
    regular = ("regular", edge)
    got_regular = submission.call(MODULE, "categorical_elbo", *cat_case(regular))
    consistent = set(matching_hints(got_regular, cat_reference(regular)["mistakes"]))
    check = f"categorical_elbo(...) with zero probabilities ({edge})"
    check_cat_gradients(submission, edge, check, candidates=consistent)
