"""Q5.1, Q5.2, Q5.4, Q5.5, Q5.6, Q5.7 — auto-encoders, VAEs and their gradients, against torch.

Every reference is computed here, in float64, with torch (torch.distributions Normal, Bernoulli,
Categorical and kl_divergence, autograd, torch.nn.functional); gradients of the student's results
come from probes (autograder/probes/generative.py) that run autograd in the child on leaf tensors
and send back the gradients of a weighted sum of the outputs, with weights chosen here. Noise is
an input (eps, samples): every comparison is exact, never a Monte-Carlo draw.

Cross-question use, as the contract declares it: vae_forward (Q5.1) may call reparameterize
(Q5.6); elbo (Q5.4) may call bernoulli_log_likelihood (Q5.4) and gaussian_kl (Q5.5). No other
test goes through a function of another question.

Bugs these checks catch, each named where it is caught (hints name them too):
Q5.1 ae_forward / vae_forward / vae_generate (modules built in the child from seeded weights)
- ae_forward: sigmoid applied to the logits; noise added to the code (not deterministic); the
  graph cut (no_grad, detach) so no gradient reaches the encoder/decoder weights;
- vae_forward: halves swapped ([logvar | mu]) or interleaved; std = exp(logvar) (variance used as
  std); z = mu (eps ignored); z = mu + logvar * eps; decoding mu instead of z; probabilities
  returned instead of logits; no gradient to the encoder (detached mu/logvar/z); eps modified;
- vae_generate: sigmoid applied; noise other than eps (torch.randn) or eps rescaled.
Q5.2 pathwise_grad / score_function_grad (f built in the child from coefficients)
- exact estimator on the given samples: gradient w.r.t. log sigma instead of sigma; sigma read as
  a variance; the eps factor of d z / d sigma forgotten; a sum over samples instead of the mean;
  score function with grad softmax instead of grad log softmax, a sign error, a baseline, f
  left out; inputs modified;
- unbiasedness against the analytic gradient of E[f(z)] (bound derived in
  test_pathwise_is_unbiased): the same bugs, seen as a bias.
Q5.4 bernoulli_log_likelihood / elbo
- log-likelihood averaged over pixels instead of summed, sign error, batch-mean instead of (B,),
  naive log(sigmoid) / log(1 - sigmoid) (-inf or nan at logits ±100), clamped probabilities
  (wrong values and zero gradients at ±100), a result cut from the graph;
- elbo: +KL instead of -KL, summed over the batch, the loss -ELBO returned, a pixel-averaged
  likelihood, a KL without 1/2, gradients wrong or missing w.r.t. x_logits, mu or logvar.
Q5.5 gaussian_kl: the factor 1/2 missing, the sign, logvar read as log std, a mean over D, the
  reversed KL(N(0, I) || q), per-dimension (B, D) result, no gradient, inputs modified in place.
Q5.6 reparameterize: std = exp(logvar), z = mu + logvar * eps, eps ignored, a detached mu or
  logvar (values right, gradients 0), eps modified in place (eps.mul_(std).add_(mu)).
Q5.7 categorical_elbo: reversed KL(prior || q), +KL, unnormalised logits used as log-probs, the
  likelihood not weighted by q, summed over the batch; 0 log 0 or 0 * (-inf) giving nan where
  torch.distributions gives 0 (q = 0 with or without a zero prior), a finite KL where torch gives
  +inf (log(p + 1e-10)), log(softmax) underflowing on a nearly one-hot q; gradients wrong or nan
  where torch's are finite.
"""
import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Categorical, Normal, kl_divergence

from autograder.checks import (Mismatch, as_array, assert_close, assert_true, assert_unchanged,
                               case_rng, describe_inputs, hint_line, matching_hints)

MODULE = "vae"
NEG_INF = float("-inf")


def T(array) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float64))


def leaf(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().clone().requires_grad_(True)


def hint_for(got, mistakes, rtol=1e-4, atol=1e-6) -> str:
    """The first mistaken formula `got` matches (same closeness rule as assert_close)."""
    have = np.asarray(got, dtype=np.float64)
    for hint, wrong in mistakes.items():
        wrong = np.asarray(wrong, dtype=np.float64)
        if wrong.shape != have.shape:
            continue
        finite = wrong[np.isfinite(wrong)]
        scale = max(1.0, float(np.max(np.abs(finite), initial=0.0)))
        with np.errstate(invalid="ignore"):
            near = np.abs(have - wrong) <= atol * scale + rtol * np.abs(wrong)
        if (near | (have == wrong) | (np.isnan(have) & np.isnan(wrong))).all():
            return f"\n  hint: {hint}"
    return ""


def result_tuple(got, n: int, check: str) -> list:
    assert_true(isinstance(got, (tuple, list)) and len(got) == n,
                f"{check}: expected a tuple of {n} tensors, got {type(got).__name__}"
                + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""))
    return list(got)


def grads_of(submission, function, args, differentiable, weights, check, question):
    """The gradients of sum_i sum(weights[i] * result_i) w.r.t. args[differentiable], from the
    probe; Mismatch when the student's result cannot be differentiated."""
    reply = submission.probe("call_with_grads", MODULE, function, list(args), list(differentiable),
                             list(weights), module=MODULE)
    if reply["reason"] is not None:
        raise Mismatch(f"{check}: cannot back-propagate through the result: {reply['reason']}\n"
                       f"  hint: build the result with torch operations on the inputs so that "
                       f"autograd can differentiate it (Q{question})")
    return reply["grads"]


NAN_GRADIENT = ("nan gradient where torch's is finite: torch.where (or masking) does not stop a "
                "nan or inf computed in the discarded branch (log(0), 0 * inf, inf - inf) from "
                "reaching the gradient; compute that branch on safe values, or use F.logsigmoid "
                "/ log_softmax rather than log(sigmoid) / log(softmax) (Q{})")


def assert_grad(got, expected, *, name, check, inputs, question, mistakes={}, where=None):
    """Compare one gradient; `where` (a bool mask) restricts to the entries compared."""
    if got is None:
        raise Mismatch(f"{check}: no gradient reached {name} (got None); expected "
                       f"{np.asarray(expected).ravel()[:4]}"
                       f"\n  hint: {name} was detached or not used through torch operations "
                       f"(Q{question})")
    expected = np.asarray(expected, dtype=np.float64)
    got = np.asarray(got.detach().numpy() if hasattr(got, "detach") else got, dtype=np.float64)
    if where is not None and got.shape == expected.shape:
        got, expected = got[where], expected[where]
        mistakes = {k: np.asarray(v)[where] for k, v in mistakes.items()
                    if np.shape(v) == where.shape}
    if np.isnan(got).any() and got.shape == expected.shape and np.isfinite(expected).all():
        mistakes = {**mistakes, NAN_GRADIENT.format(question): np.where(np.isnan(got), np.nan, got)}
    assert_close(got, expected, check=f"{check}: gradient w.r.t. {name}", inputs=inputs,
                 mistakes=mistakes)


# ----------------------------------------------------------------------------------------------
# Q5.1 — ae_forward, vae_forward, vae_generate with modules built from seeded weights
# ----------------------------------------------------------------------------------------------

AE_SPECS = [  # (x shape, hidden, latent D)
    ((5, 6), 7, 3),
    ((4, 2, 3, 3), 5, 2),
    ((6, 10), 8, 4),
]


def mlp_weights(rng, n_in, hidden, n_out):
    W1 = rng.normal(0, 1 / math.sqrt(n_in), (hidden, n_in))
    b1 = rng.normal(0, 0.3, hidden)
    W2 = rng.normal(0, 1 / math.sqrt(hidden), (n_out, hidden))
    b2 = rng.normal(0, 0.3, n_out)
    return [T(W1), T(b1), T(W2), T(b2)]


def mlp_ref(h, weights, flatten=False, out_shape=None):
    """Linear, tanh, Linear in torch.nn.functional (the grader's twin of the probe's modules)."""
    W1, b1, W2, b2 = weights
    if flatten:
        h = h.flatten(1)
    h = F.linear(torch.tanh(F.linear(h, W1, b1)), W2, b2)
    return h.unflatten(1, tuple(out_shape)) if out_shape is not None else h


@functools.cache
def ae_case(case: int, variational: bool):
    """x, encoder weights (to D or 2D), decoder weights (D -> pixels), eps (B, D), generation eps
    (N, D), output weights w for the gradient. The logvar half's bias is shifted by ±1 so that
    exp(logvar) and exp(logvar / 2) differ clearly."""
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
    return dict(x=x, enc=enc, dec=dec, eps=eps, gen_eps=gen_eps, w=w, D=D,
                out_shape=list(shape[1:]))


def ae_inputs(c):
    return {"x": c["x"], "encoder": "Flatten, Linear, Tanh, Linear",
            "decoder": "Linear, Tanh, Linear, Unflatten"}


def run_autoencoder(submission, function, c, eps, weights):
    return submission.probe("call_autoencoder", MODULE, function, c["enc"], c["dec"],
                            c["out_shape"], c["x"], eps, weights, module=MODULE)


@functools.cache
def ae_reference(case: int):
    c = ae_case(case, False)
    enc = [leaf(t) for t in c["enc"]]
    dec = [leaf(t) for t in c["dec"]]
    out = mlp_ref(mlp_ref(c["x"], enc, flatten=True), dec, out_shape=c["out_shape"])
    grads = torch.autograd.grad((c["w"] * out).sum(), enc + dec)
    return out.detach(), [g.numpy() for g in grads]


PARAM_NAMES = ["W1", "b1", "W2", "b2"]


def check_module_grads(reply, expected, check, inputs, question):
    if reply["reason"] is not None:
        raise Mismatch(f"{check}: cannot back-propagate through the result: {reply['reason']}\n"
                       f"  hint: a model's forward pass must stay differentiable, or it cannot be "
                       f"trained (Q{question})")
    got = reply["encoder_grads"] + reply["decoder_grads"]
    names = [f"encoder {n}" for n in PARAM_NAMES] + [f"decoder {n}" for n in PARAM_NAMES]
    for g, e, name in zip(got, expected, names):
        assert_grad(g, e, name=name, check=check, inputs=inputs, question=question)


@pytest.mark.question("5.1", weight=1.5)
@pytest.mark.parametrize("case", range(3))
def test_ae_forward_reconstructs(submission, case):
    """decoder(encoder(x)) as logits, and gradients reaching both modules' weights.
    Fails: sigmoid applied, noise added to the code, the graph cut (no_grad, detach)."""
    c = ae_case(case, False)
    expected, expected_grads = ae_reference(case)
    reply = run_autoencoder(submission, "ae_forward", c, None, [c["w"]])
    check = "ae_forward(x, encoder, decoder)"
    assert_close(reply["value"], expected, check=check, inputs=ae_inputs(c), mistakes={
        "returned probabilities: the decoder gives logits, apply no sigmoid (Q5.1)":
            torch.sigmoid(expected),
    })
    check_module_grads(reply, expected_grads,
                       f"{check}, back-propagating sum(w * x_logits)", ae_inputs(c), "5.1")


def vae_forward_twin(x, enc, dec, eps, out_shape, D, *, std=None, swap=False, interleave=False,
                     decode_mu=False):
    """vae_forward written with torch (and its mistaken variants, for the hints)."""
    stats = mlp_ref(x, enc, flatten=True)
    if interleave:
        mu, logvar = stats[:, 0::2], stats[:, 1::2]
    else:
        mu, logvar = stats[:, :D], stats[:, D:]
    if swap:
        mu, logvar = logvar, mu
    scale = Normal(mu, torch.exp(0.5 * logvar)).stddev if std is None else std(logvar)
    z = mu + scale * eps
    return mlp_ref(mu if decode_mu else z, dec, out_shape=out_shape), mu, logvar, z


@functools.cache
def vae_forward_reference(case: int):
    c = ae_case(case, True)
    enc = [leaf(t) for t in c["enc"]]
    dec = [leaf(t) for t in c["dec"]]
    outs = vae_forward_twin(c["x"], enc, dec, c["eps"], c["out_shape"], c["D"])
    grads = torch.autograd.grad((c["w"] * outs[0]).sum(), enc + dec)
    args = (c["x"], c["enc"], c["dec"], c["eps"], c["out_shape"], c["D"])
    variants = {
        "swap": vae_forward_twin(*args, swap=True),
        "interleave": vae_forward_twin(*args, interleave=True),
        "var_std": vae_forward_twin(*args, std=torch.exp),
        "logvar_eps": vae_forward_twin(*args, std=lambda lv: lv),
        "no_eps": vae_forward_twin(*args, std=lambda lv: torch.zeros_like(lv)),
        "decode_mu": vae_forward_twin(*args, decode_mu=True),
    }
    return ([o.detach() for o in outs], [g.numpy() for g in grads],
            {k: [o.detach() for o in v] for k, v in variants.items()})


@pytest.mark.question("5.1", weight=3)
@pytest.mark.parametrize("case", range(3))
def test_vae_forward_outputs(submission, case):
    """(x_logits, mu, logvar, z): the encoder's halves [mu | logvar], z = mu + exp(logvar/2) eps,
    x_logits = decoder(z). Fails: swapped or interleaved halves, std = exp(logvar), z = mu +
    logvar eps, eps ignored, decoder(mu), sigmoid applied."""
    c = ae_case(case, True)
    expected, _, wrong = vae_forward_reference(case)
    reply = run_autoencoder(submission, "vae_forward", c, c["eps"], [c["w"], None, None, None])
    check = "vae_forward(x, encoder, decoder, eps)"
    got = result_tuple(reply["value"], 4, check)
    inputs = {**ae_inputs(c), "eps": c["eps"]}
    halves = {
        "the encoder's output is [mu | logvar]: mu is the first D columns, logvar the last D "
        "(Q5.1)": wrong["swap"][1],
        "the halves are contiguous blocks [mu | logvar], not interleaved columns (Q5.1)":
            wrong["interleave"][1],
    }
    assert_close(got[1], expected[1], check=f"{check}: mu (2nd output)", inputs=inputs,
                 mistakes=halves)
    assert_close(got[2], expected[2], check=f"{check}: logvar (3rd output)", inputs=inputs,
                 mistakes={"the encoder's output is [mu | logvar]: logvar is the last D columns "
                           "(Q5.1)": wrong["swap"][2],
                           "the halves are contiguous blocks, not interleaved (Q5.1)":
                               wrong["interleave"][2]})
    z_hints = {
        "used exp(logvar) as the standard deviation: std = exp(logvar / 2) (Q5.1, Q5.6)":
            wrong["var_std"][3],
        "z = mu + logvar * eps: the std is exp(logvar / 2) (Q5.1, Q5.6)": wrong["logvar_eps"][3],
        "z = mu: the noise eps was ignored, z must be drawn with the reparameterisation trick "
        "(Q5.1)": wrong["no_eps"][3],
    }
    assert_close(got[3], expected[3], check=f"{check}: z (4th output)", inputs=inputs,
                 mistakes=z_hints)
    assert_close(got[0], expected[0], check=f"{check}: x_logits (1st output)", inputs=inputs,
                 mistakes={
                     "decoded mu instead of the sample z (Q5.1)": wrong["decode_mu"][0],
                     "returned probabilities: the decoder gives logits, apply no sigmoid (Q5.1)":
                         torch.sigmoid(expected[0]),
                 })


@pytest.mark.question("5.1", weight=1.5)
@pytest.mark.parametrize("case", range(3))
def test_vae_forward_gradients(submission, case):
    """Back-propagating sum(w * x_logits) reaches the encoder's and the decoder's weights with
    torch's values. Fails: mu, logvar or z detached, the encoder run under no_grad, numpy."""
    c = ae_case(case, True)
    _, expected_grads, _ = vae_forward_reference(case)
    reply = run_autoencoder(submission, "vae_forward", c, c["eps"], [c["w"], None, None, None])
    result_tuple(reply["value"], 4, "vae_forward(x, encoder, decoder, eps)")
    check_module_grads(reply, expected_grads,
                       "vae_forward(x, encoder, decoder, eps), back-propagating sum(w * x_logits)",
                       {**ae_inputs(c), "eps": c["eps"]}, "5.1")


@pytest.mark.question("5.1", weight=0.5)
def test_vae_forward_input_not_modified(submission):
    """x and eps unchanged. Fails: eps.mul_(std).add_(mu) and other in-place updates."""
    c = ae_case(0, True)
    reply = run_autoencoder(submission, "vae_forward", c, c["eps"], [c["w"], None, None, None])
    assert_unchanged({"x": c["x"], "eps": c["eps"]}, {"x": reply["x"], "eps": reply["eps"]},
                     check="vae_forward(x, encoder, decoder, eps)")


@pytest.mark.question("5.1", weight=1.5)
@pytest.mark.parametrize("case", range(3))
def test_vae_generate_decodes_prior_samples(submission, case):
    """decoder(eps) on N prior samples (N differs from the training batch). Fails: sigmoid applied,
    fresh noise (torch.randn) or rescaled eps, encoding first."""
    c = ae_case(case, True)
    expected = mlp_ref(c["gen_eps"], c["dec"], out_shape=c["out_shape"])
    reply = run_autoencoder(submission, "vae_generate", c, c["gen_eps"], [None])
    assert_close(reply["value"], expected, check="vae_generate(decoder, eps)",
                 inputs={"eps": c["gen_eps"], "decoder": "Linear, Tanh, Linear, Unflatten"},
                 mistakes={"returned probabilities: the decoder gives logits (Q5.1)":
                           torch.sigmoid(expected)})


# ----------------------------------------------------------------------------------------------
# Q5.2 — pathwise and score-function estimators
# ----------------------------------------------------------------------------------------------

# Unbiasedness is checked on many samples; the exact estimator on a few.
PATHWISE_SPECS = [(3, 5), (1, 1), (5, 8), (4, 3)]   # (D, S)
UNBIASED_S = 5000
Z_PROBABILITY = 1e-9


def z_value(coordinates: int) -> float:
    """z with P(|N(0,1)| > z) = 1e-9 / coordinates: a union bound over the coordinates."""
    return float(-torch.special.ndtri(torch.tensor(Z_PROBABILITY / (2 * coordinates),
                                                   dtype=torch.float64)))


@functools.cache
def pathwise_case(case):
    """f(z) = sum_d a_d z_d^2 + c_d z_d; sigma on both sides of 1 so that d/d sigma and
    d/d log sigma = sigma d/d sigma differ; mu, a, c random."""
    D, S = PATHWISE_SPECS[case] if case >= 0 else (3, UNBIASED_S)
    rng = case_rng("vae.pathwise", case)
    a = rng.choice([-1.0, 1.0], D) * rng.uniform(0.5, 1.5, D)
    c = rng.normal(0, 1, D)
    mu = rng.normal(0, 1, D)
    sigma = np.where(rng.uniform(size=D) < 0.5, rng.uniform(0.2, 0.5, D), rng.uniform(1.6, 2.5, D))
    if case < 0:
        sigma = np.array([0.3, 2.0, 0.4])
    eps = rng.normal(0, 1, (S, D))
    return T(a), T(c), T(mu), T(sigma), T(eps)


def f_quadratic(a, c, z):
    return (a * z**2 + c * z).sum(dim=-1)


@functools.cache
def pathwise_reference(case):
    """The estimator on the given eps, by autograd; per-sample terms; mistaken variants."""
    a, c, mu, sigma, eps = pathwise_case(case)
    mu_l, sigma_l = leaf(mu), leaf(sigma)
    z = mu_l + sigma_l * eps
    g_mu, g_sigma = torch.autograd.grad(f_quadratic(a, c, z).mean(), (mu_l, sigma_l))
    z_l = leaf(mu + sigma * eps)
    (per_z,) = torch.autograd.grad(f_quadratic(a, c, z_l).sum(), z_l)   # df/dz for each sample
    per_sample = torch.cat([per_z, per_z * eps], dim=1)                  # (S, 2D)
    var_l = leaf(sigma)
    (g_var,) = torch.autograd.grad(f_quadratic(a, c, mu + torch.sqrt(var_l) * eps).mean(), var_l)
    S = eps.shape[0]
    wrong_sigma = {
        "this is the gradient w.r.t. log sigma (sigma * d/d sigma): the question asks for the "
        "gradient w.r.t. sigma itself (Q5.2)": sigma * g_sigma,
        "forgot the chain-rule factor eps: d z / d sigma = eps (Q5.2)": g_mu,
        "summed over the samples instead of averaging (Q5.2)": S * g_sigma,
        "read sigma as a variance (z = mu + sqrt(sigma) eps): sigma is the standard deviation "
        "(Q5.2)": g_var,
    }
    wrong_mu = {"summed over the samples instead of averaging (Q5.2)": S * g_mu}
    return g_mu, g_sigma, per_sample, wrong_mu, wrong_sigma


def pathwise_inputs(case):
    a, c, mu, sigma, eps = pathwise_case(case)
    return {"mu": mu, "sigma": sigma, "eps": eps, "f": "sum_d a_d z_d^2 + c_d z_d"}


def run_pathwise(submission, case):
    reply = submission.probe("pathwise_quadratic", *pathwise_case(case), module=MODULE)
    return reply, result_tuple(reply["value"], 2, "pathwise_grad(f, mu, sigma, eps)")


def as_numbers(value, check):
    if value is None:
        raise Mismatch(f"{check}: got None instead of a gradient (no gradient reached that "
                       f"parameter: it was detached or not used)")
    return value


@pytest.mark.question("5.2", weight=2)
@pytest.mark.parametrize("case", range(len(PATHWISE_SPECS)))
def test_pathwise_matches_estimator(submission, case):
    """(grad_mu, grad_sigma) equal the gradient of (1/S) sum_s f(mu + sigma eps_s) computed by
    autograd on the same eps. Fails: d/d log sigma, sigma as variance, the eps factor forgotten,
    a sum over samples, a detached sigma."""
    g_mu, g_sigma, _, wrong_mu, wrong_sigma = pathwise_reference(case)
    _, (got_mu, got_sigma) = run_pathwise(submission, case)
    check = "pathwise_grad(f, mu, sigma, eps)"
    assert_close(as_numbers(got_mu, f"{check}: grad_mu"), g_mu, check=f"{check}: grad_mu",
                 inputs=pathwise_inputs(case), mistakes=wrong_mu)
    assert_close(as_numbers(got_sigma, f"{check}: grad_sigma"), g_sigma,
                 check=f"{check}: grad_sigma", inputs=pathwise_inputs(case), mistakes=wrong_sigma)


def assert_within(got, expected, bound, *, check, inputs, mistakes):
    """|got - expected| <= bound (+ a float tolerance) in every coordinate."""
    have = np.asarray(got, dtype=np.float64)
    want = np.asarray(expected, dtype=np.float64)
    bound = np.asarray(bound, dtype=np.float64)
    if have.shape != want.shape:
        raise Mismatch(f"{check}: expected shape {want.shape}, got shape {have.shape}")
    slack = bound + 1e-6 + 1e-4 * np.abs(want)
    err = np.abs(have - want)
    if np.all(err <= slack):
        return
    fmt = lambda v: "[" + ", ".join(f"{x:.6g}" for x in np.ravel(v)[:6]) + "]"
    raise Mismatch(f"{check} on {describe_inputs(inputs)}: the estimate is biased: it is further "
                   f"from the exact gradient of E[f(z)] than sampling noise allows "
                   f"({int((~(err <= slack)).sum())} of {want.size} entries)\n"
                   f"  exact gradient: {fmt(want)}   got: {fmt(have)}\n"
                   f"  |error|: {fmt(err)}   allowed (z * std / sqrt(S)): {fmt(bound)}"
                   + hint_for(have, mistakes))


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
    case = -1
    a, c, mu, sigma, eps = pathwise_case(case)
    g_mu, g_sigma, per_sample, wrong_mu, wrong_sigma = pathwise_reference(case)
    mu_l, sigma_l = leaf(mu), leaf(sigma)
    q = Normal(mu_l, sigma_l)
    expectation = (a * (q.variance + q.mean**2) + c * q.mean).sum()
    exact_mu, exact_sigma = torch.autograd.grad(expectation, (mu_l, sigma_l))
    S, m = eps.shape[0], per_sample.shape[1]
    bound = z_value(m) * per_sample.std(dim=0) / math.sqrt(S)
    D = mu.shape[0]
    _, (got_mu, got_sigma) = run_pathwise(submission, case)
    check = f"pathwise_grad(f, mu, sigma, eps) on S = {S} samples vs the exact gradient of E[f(z)]"
    assert_within(as_numbers(got_mu, check), exact_mu, bound[:D], check=f"{check}: grad_mu",
                  inputs=pathwise_inputs(case), mistakes=wrong_mu)
    assert_within(as_numbers(got_sigma, check), exact_sigma, bound[D:],
                  check=f"{check}: grad_sigma", inputs=pathwise_inputs(case), mistakes=wrong_sigma)


SCORE_SPECS = [(4, 6), (3, 1), (6, 10), (2, 4)]   # (K, S)


@functools.cache
def score_case(case):
    """A table f(k) = table[k], logits and samples drawn from softmax(logits) (seeded)."""
    K, S = SCORE_SPECS[case] if case >= 0 else (5, UNBIASED_S)
    rng = case_rng("vae.score_function", case)
    table = rng.uniform(-3, 3, K)
    logits = rng.normal(0, 1, K)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    samples = rng.choice(K, size=S, p=p).astype(np.int64)
    return T(table), T(logits), torch.from_numpy(samples)


@functools.cache
def score_reference(case):
    table, logits, samples = score_case(case)
    S, K = samples.shape[0], logits.shape[0]
    values = table[samples]

    def estimate(log_q_of):
        logits_l = leaf(logits)
        (g,) = torch.autograd.grad((values * log_q_of(logits_l)).mean(), logits_l)
        return g

    g = estimate(lambda l: Categorical(logits=l).log_prob(samples))
    p = torch.softmax(logits, dim=-1)
    per_sample = values[:, None] * (F.one_hot(samples, K).to(torch.float64) - p)   # (S, K)
    logits_l = leaf(logits)
    (g_softmax,) = torch.autograd.grad((values * torch.softmax(logits_l, -1)[samples]).mean(),
                                       logits_l)
    logits_l = leaf(logits)
    baseline = values - values.mean()
    (g_baseline,) = torch.autograd.grad(
        (baseline * torch.log_softmax(logits_l, -1)[samples]).mean(), logits_l)
    wrong = {
        "differentiated softmax(logits)[z] instead of log softmax(logits)[z]: the score is "
        "grad log q (Q5.2)": g_softmax,
        "sign error: the estimate is + mean f(z) grad log q(z) (Q5.2)": -g,
        "summed over the samples instead of averaging (Q5.2)": S * g,
        "subtracted a baseline: this question asks for the plain estimator (Q5.2)": g_baseline,
        "f(z) is missing: the estimate weights each score by f(z_s) (Q5.2)":
            (F.one_hot(samples, K).to(torch.float64) - p).mean(0),
    }
    return g, per_sample, wrong


def score_inputs(case):
    table, logits, samples = score_case(case)
    return {"logits": logits, "samples": samples, "f": "table lookup f(k) = table[k]"}


def run_score(submission, case):
    return submission.probe("score_function_table", *score_case(case), module=MODULE)


@pytest.mark.question("5.2", weight=2)
@pytest.mark.parametrize("case", range(len(SCORE_SPECS)))
def test_score_function_matches_estimator(submission, case):
    """mean_s f(z_s) grad_logits log softmax(logits)[z_s] on the given samples, by autograd on
    Categorical(logits).log_prob. Fails: grad softmax instead of grad log softmax, the sign, a sum
    over samples, a baseline, f left out."""
    g, _, wrong = score_reference(case)
    reply = run_score(submission, case)
    check = "score_function_grad(f, logits, samples)"
    assert_close(as_numbers(reply["value"], check), g, check=check, inputs=score_inputs(case),
                 mistakes=wrong)


@pytest.mark.question("5.2", weight=1)
def test_score_function_is_unbiased(submission):
    """The estimate on S = 5000 samples is within sampling noise of the analytic gradient of
    E[f(z)] = sum_k softmax(logits)_k table_k (autograd here). Bound as in
    test_pathwise_is_unbiased, with m = K coordinates and the per-sample terms
    f(z_s) (onehot(z_s) - softmax(logits)) computed here. Fails: grad softmax (biased by a factor
    ~ q(z)), a sign error, a sum over samples, f left out."""
    case = -1
    table, logits, samples = score_case(case)
    _, per_sample, wrong = score_reference(case)
    logits_l = leaf(logits)
    (exact,) = torch.autograd.grad((Categorical(logits=logits_l).probs * table).sum(), logits_l)
    S, K = per_sample.shape
    bound = z_value(K) * per_sample.std(dim=0) / math.sqrt(S)
    reply = run_score(submission, case)
    check = (f"score_function_grad(f, logits, samples) on S = {S} samples vs the exact gradient "
             f"of E[f(z)]")
    assert_within(as_numbers(reply["value"], check), exact, bound, check=check,
                  inputs=score_inputs(case), mistakes=wrong)


@pytest.mark.question("5.2", weight=0.5)
@pytest.mark.parametrize("function", ["pathwise_grad", "score_function_grad"])
def test_estimators_leave_inputs_unchanged(submission, function):
    """mu, sigma, eps / logits, samples unchanged after the call. Fails: eps.mul_(sigma).add_(mu),
    an in-place softmax on the logits."""
    if function == "pathwise_grad":
        a, c, mu, sigma, eps = pathwise_case(0)
        reply = submission.probe("pathwise_quadratic", a, c, mu, sigma, eps, module=MODULE)
        before, after = {"mu": mu, "sigma": sigma, "eps": eps}, reply
    else:
        table, logits, samples = score_case(0)
        reply = run_score(submission, 0)
        before, after = {"logits": logits, "samples": samples}, reply
    assert_unchanged(before, {k: after[k] for k in before}, check=f"{function}(f, ...)")


# ----------------------------------------------------------------------------------------------
# Q5.4 — bernoulli_log_likelihood and elbo
# ----------------------------------------------------------------------------------------------

BERNOULLI_SPECS = [((4, 6), "binary"), ((3, 2, 4, 4), "continuous"), ((5, 10), "binary"),
                   ((2, 3, 5), "continuous")]


@functools.cache
def bernoulli_case(case):
    shape, kind = BERNOULLI_SPECS[case]
    rng = case_rng("vae.bernoulli", case)
    x = (rng.uniform(size=shape) < 0.4).astype(np.float64) if kind == "binary" else \
        rng.uniform(0, 1, shape)
    logits = rng.normal(0, 3, shape)
    w = rng.normal(0, 1, shape[0])
    return T(x), T(logits), T(w)


@functools.cache
def bernoulli_extreme_case():
    """Logits at ±100 against targets 0, 1 and 0.3: sigmoid rounds to 0 or 1 there."""
    rng = case_rng("vae.bernoulli.extreme")
    logits = rng.choice([-100.0, 100.0], (4, 6))
    logits[0, :3] = [100.0, -100.0, 0.5]
    x = rng.choice([0.0, 1.0, 0.3], (4, 6))
    x[0, :2] = [0.0, 1.0]   # confidently wrong pixels: log p = -100
    w = rng.normal(0, 1, 4)
    return T(x), T(logits), T(w)


def bernoulli_reference(x, logits):
    """log p(x|z) summed over pixels, from torch.distributions (x may be any value in [0, 1])."""
    log_p = Bernoulli(logits=logits, validate_args=False).log_prob(x)
    return log_p.flatten(1).sum(1)


NAIVE_LOG_SIGMOID = ("log(sigmoid(l)) or log(1 - sigmoid(l)) is -inf once sigmoid rounds to 0 or "
                     "1: use F.logsigmoid(l), and log(1 - sigmoid(l)) = logsigmoid(-l) (Q5.4)")


def assert_finite_like(got, expected, *, check, inputs, hint=None, mistakes={}):
    """Finite where expected is finite, before assert_close (whose relative tolerance is infinite
    around an infinite expected value, and which cannot name the cause of a nan). The hint is
    that of the mistaken formulas `got` matches (nan and inf matched exactly), else `hint`."""
    have = as_array(got, check, describe_inputs(inputs))
    want = np.asarray(expected, dtype=np.float64)
    if have.shape == want.shape and (np.isfinite(have) != np.isfinite(want)).any():
        bad = np.isfinite(have) != np.isfinite(want)
        hints = matching_hints(have, mistakes) or ([hint] if hint else [])
        raise Mismatch(f"{check} on {describe_inputs(inputs)}: non-finite values where torch's are "
                       f"finite, or the reverse ({int(bad.sum())} of {want.size} entries)\n"
                       f"  expected: {want[bad].ravel()[:4]}   got: {have[bad].ravel()[:4]}"
                       + hint_line(hints))


def bernoulli_mistakes(x, logits):
    log_p = Bernoulli(logits=logits, validate_args=False).log_prob(x).flatten(1)
    clamped = {}
    for eps in (1e-7, 1e-8, 1e-10, 1e-12):
        p = torch.sigmoid(logits).clamp(eps, 1 - eps)
        clamped[f"clamped probabilities (sigmoid clamped to [{eps:g}, 1 - {eps:g}]): the log "
                f"of a clamped probability is wrong for large logits; use F.logsigmoid (Q5.4)"] = \
            (x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)
    return {
        "averaged over pixels: the log-likelihood of an example is the SUM over its pixels "
        "(Q5.4)": log_p.mean(1),
        "sign error: this is the binary cross-entropy, the log-likelihood is its negative (Q5.4)":
            -log_p.sum(1),
        "returned one number: the result is per example, shape (B,) (Q5.4)": log_p.sum(1).mean(),
        **clamped,
    }


@pytest.mark.question("5.4", weight=2)
@pytest.mark.parametrize("case", range(len(BERNOULLI_SPECS)))
def test_bernoulli_log_likelihood_values(submission, case):
    """Bernoulli(logits).log_prob(x) summed over every non-batch dimension, binary and
    continuous x, 2-D to 4-D. Fails: mean over pixels, sign (BCE), a scalar, flattening all but
    the last axis only."""
    x, logits, _ = bernoulli_case(case)
    got = submission.call(MODULE, "bernoulli_log_likelihood", x, logits)
    assert_close(got, bernoulli_reference(x, logits), check="bernoulli_log_likelihood(x, x_logits)",
                 inputs={"x": x, "x_logits": logits}, mistakes=bernoulli_mistakes(x, logits))


@pytest.mark.question("5.4", weight=1)
def test_bernoulli_log_likelihood_at_extreme_logits(submission):
    """Exact and finite for logits at ±100 (log p = -100 for a confidently wrong pixel).
    Fails: log(sigmoid), log(1 - sigmoid) (-inf, nan = 0 * -inf), clamped probabilities
    (log(1e-7) = -16 instead of -100)."""
    x, logits, _ = bernoulli_extreme_case()
    got = submission.call(MODULE, "bernoulli_log_likelihood", x, logits)
    expected = bernoulli_reference(x, logits)
    check = "bernoulli_log_likelihood(x, x_logits) with logits at ±100"
    inputs = {"x": x, "x_logits": logits}
    assert_finite_like(got, expected, check=check, inputs=inputs, hint=NAIVE_LOG_SIGMOID)
    assert_close(got, expected, check=check, inputs=inputs, mistakes=bernoulli_mistakes(x, logits))


@pytest.mark.question("5.4", weight=1)
@pytest.mark.parametrize("case", ["regular", "extreme"])
def test_bernoulli_log_likelihood_gradient(submission, case):
    """The gradient of sum(w * log p(x|z)) w.r.t. x_logits equals torch's (w_b (x - sigmoid(l)));
    finite at ±100. Fails: a detached result, clamped probabilities (zero gradient at ±100),
    nan gradients of log(1 - sigmoid)."""
    x, logits, w = bernoulli_case(0) if case == "regular" else bernoulli_extreme_case()
    logits_l = leaf(logits)
    (expected,) = torch.autograd.grad((w * bernoulli_reference(x, logits_l)).sum(), logits_l)
    check = "bernoulli_log_likelihood(x, x_logits), back-propagating sum(w * result)"
    (got,) = grads_of(submission, "bernoulli_log_likelihood", [x, logits], [1], [w], check, "5.4")
    assert_grad(got, expected, name="x_logits", check=check, question="5.4",
                inputs={"x": x, "x_logits": logits})


ELBO_SPECS = [((4, 6), 3, False), ((3, 2, 3, 3), 2, False), ((5, 8), 4, True)]


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


def kl_reference(mu, logvar):
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per example, from torch.distributions."""
    q = Normal(mu, torch.exp(0.5 * logvar))
    return kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)


def elbo_reference(x, logits, mu, logvar):
    return (bernoulli_reference(x, logits) - kl_reference(mu, logvar)).mean()


def elbo_inputs(case):
    x, logits, mu, logvar = elbo_case(case)
    return {"x": x, "x_logits": logits, "mu": mu, "logvar": logvar}


@pytest.mark.question("5.4", weight=2)
@pytest.mark.parametrize("case", range(len(ELBO_SPECS)))
def test_elbo_values(submission, case):
    """mean_b [sum_pixels log p(x_b|z_b) - KL(q(z|x_b) || N(0, I))], torch.distributions.
    Fails: +KL, a sum over the batch, -ELBO returned, pixel-averaged likelihood, KL without 1/2,
    log(sigmoid) at ±100 (case 2)."""
    x, logits, mu, logvar = elbo_case(case)
    expected = elbo_reference(x, logits, mu, logvar)
    got = submission.call(MODULE, "elbo", x, logits, mu, logvar)
    assert_finite_like(got, expected, check="elbo(x, x_logits, mu, logvar)",
                       inputs=elbo_inputs(case), hint=NAIVE_LOG_SIGMOID)
    rec, kl = bernoulli_reference(x, logits), kl_reference(mu, logvar)
    assert_close(got, expected, check="elbo(x, x_logits, mu, logvar)", inputs=elbo_inputs(case),
                 mistakes={
                     "added the KL: the ELBO is log p(x|z) MINUS KL(q || p) (Q5.4)":
                         (rec + kl).mean(),
                     "summed over the batch: the ELBO is the MEAN over the batch (Q5.4)":
                         (rec - kl).sum(),
                     "returned the loss -ELBO: the function returns the ELBO itself, to be "
                     "maximised (Q5.4)": -expected,
                     "the log-likelihood was averaged over pixels: sum it (Q5.4)":
                         (Bernoulli(logits=logits, validate_args=False).log_prob(x).flatten(1)
                          .mean(1) - kl).mean(),
                     "the KL is missing its factor 1/2 (Q5.4, Q5.5)": (rec - 2 * kl).mean(),
                 })


@pytest.mark.question("5.4", weight=1.5)
@pytest.mark.parametrize("case", range(len(ELBO_SPECS)))
def test_elbo_gradients(submission, case):
    """The gradient of 1.5 * elbo w.r.t. x_logits, mu and logvar equals torch's autograd on the
    torch.distributions ELBO; finite at logits ±100. Fails: detached terms, a sum over the batch,
    +KL, nan gradients of log(1 - sigmoid)."""
    x, logits, mu, logvar = elbo_case(case)
    leaves = [leaf(logits), leaf(mu), leaf(logvar)]
    weight = torch.tensor(1.5, dtype=torch.float64)
    expected = torch.autograd.grad(weight * elbo_reference(x, *leaves), leaves)
    B = x.shape[0]
    check = "elbo(x, x_logits, mu, logvar), back-propagating 1.5 * elbo"
    got = grads_of(submission, "elbo", [x, logits, mu, logvar], [1, 2, 3], [weight], check, "5.4")
    for g, e, name in zip(got, expected, ["x_logits", "mu", "logvar"]):
        mistakes = {"summed over the batch instead of the mean (Q5.4)": B * e}
        mistakes["returned the loss -ELBO: the function returns the ELBO itself, to be "
                 "maximised (Q5.4)"] = -e
        if name != "x_logits":
            mistakes["the KL term has the wrong sign: the ELBO is log p(x|z) MINUS KL(q || p), "
                     "not plus (Q5.4)"] = -e
        assert_grad(g, e, name=name, check=check, inputs=elbo_inputs(case), question="5.4",
                    mistakes=mistakes)


@pytest.mark.question("5.4", weight=0.5)
@pytest.mark.parametrize("function", ["bernoulli_log_likelihood", "elbo"])
def test_elbo_inputs_not_modified(submission, function):
    """Inputs unchanged. Fails: in-place sigmoid/clamp on x_logits, logvar.exp_()."""
    x, logits, mu, logvar = elbo_case(0)
    args = [x, logits] if function == "bernoulli_log_likelihood" else [x, logits, mu, logvar]
    _, after, _ = submission.call_with_inputs(MODULE, function, *args)
    names = ["x", "x_logits", "mu", "logvar"][:len(args)]
    assert_unchanged(dict(zip(names, args)), dict(zip(names, after)), check=f"{function}(...)")


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


def kl_mistakes(mu, logvar):
    kl_d = 0.5 * (mu**2 + logvar.exp() - 1 - logvar)
    as_log_std = 0.5 * (mu**2 + torch.exp(2 * logvar) - 1 - 2 * logvar)
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    reverse = kl_divergence(p, Normal(mu, torch.exp(0.5 * logvar)))
    return {
        "missing the factor 1/2 of the Gaussian KL (Q5.5)": 2 * kl_d.sum(-1),
        "sign error: KL >= 0, it is 1/2 (mu^2 + exp(logvar) - 1 - logvar) (Q5.5)": -kl_d.sum(-1),
        "read logvar as log sigma: the variance is exp(logvar), not exp(2 logvar) (Q5.5)":
            as_log_std.sum(-1),
        "averaged over the latent dimensions: the KL of a diagonal Gaussian is the SUM over D "
        "(Q5.5)": kl_d.mean(-1),
        "reversed: this is KL(N(0, I) || q); the question asks for KL(q || N(0, I)) (Q5.5)":
            reverse.sum(-1),
        "returned one KL per dimension: sum over D to get (B,) (Q5.5)": kl_d,
    }


@pytest.mark.question("5.5", weight=3)
@pytest.mark.parametrize("case", range(len(KL_SPECS)))
def test_gaussian_kl_values(submission, case):
    """kl_divergence(Normal(mu, exp(logvar/2)), Normal(0, 1)) summed over D, per example; case 3
    holds a row equal to the prior (KL 0) and logvar -20 / 8. Fails: no 1/2, sign, logvar as
    log std, mean over D, reversed KL, (B, D) result."""
    mu, logvar, _ = kl_case(case)
    got = submission.call(MODULE, "gaussian_kl", mu, logvar)
    assert_close(got, kl_reference(mu, logvar), check="gaussian_kl(mu, logvar)",
                 inputs={"mu": mu, "logvar": logvar}, mistakes=kl_mistakes(mu, logvar))


@pytest.mark.question("5.5", weight=1)
@pytest.mark.parametrize("case", [0, 2])
def test_gaussian_kl_gradients(submission, case):
    """Gradients of sum(w * KL) w.r.t. mu and logvar equal torch's (w mu, w (exp(logvar) - 1)/2).
    Fails: a result rebuilt from Python floats or numpy (no graph), a detached term."""
    mu, logvar, w = kl_case(case)
    leaves = [leaf(mu), leaf(logvar)]
    expected = torch.autograd.grad((w * kl_reference(*leaves)).sum(), leaves)
    check = "gaussian_kl(mu, logvar), back-propagating sum(w * KL)"
    got = grads_of(submission, "gaussian_kl", [mu, logvar], [0, 1], [w], check, "5.5")
    for g, e, name in zip(got, expected, ["mu", "logvar"]):
        assert_grad(g, e, name=name, check=check, inputs={"mu": mu, "logvar": logvar},
                    question="5.5")


@pytest.mark.question("5.5", weight=0.5)
def test_gaussian_kl_inputs_not_modified(submission):
    """mu and logvar unchanged. Fails: logvar.exp_(), mu.pow_(2)."""
    mu, logvar, _ = kl_case(0)
    _, after, _ = submission.call_with_inputs(MODULE, "gaussian_kl", mu, logvar)
    assert_unchanged({"mu": mu, "logvar": logvar}, dict(zip(["mu", "logvar"], after)),
                     check="gaussian_kl(mu, logvar)")


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


def reparam_reference(mu, logvar, eps):
    return mu + Normal(mu, torch.exp(0.5 * logvar)).stddev * eps


def reparam_inputs(case):
    mu, logvar, eps, _ = reparam_case(case)
    return {"mu": mu, "logvar": logvar, "eps": eps}


@pytest.mark.question("5.6", weight=2)
@pytest.mark.parametrize("case", range(len(REPARAM_SHAPES)))
def test_reparameterize_values(submission, case):
    """z = mu + exp(logvar / 2) eps. Fails: std = exp(logvar), logvar * eps, sqrt(logvar) (nan),
    eps ignored."""
    mu, logvar, eps, _ = reparam_case(case)
    got = submission.call(MODULE, "reparameterize", mu, logvar, eps)
    assert_close(got, reparam_reference(mu, logvar, eps), check="reparameterize(mu, logvar, eps)",
                 inputs=reparam_inputs(case), mistakes={
                     "used the variance exp(logvar) as the standard deviation: "
                     "std = exp(logvar / 2) (Q5.6)": mu + torch.exp(logvar) * eps,
                     "z = mu + logvar * eps: logvar is a log-variance, the std is "
                     "exp(logvar / 2) (Q5.6)": mu + logvar * eps,
                     "ignored eps (Q5.6)": mu,
                     "std = exp(logvar) / 2: the 1/2 goes inside the exp (Q5.6)":
                         mu + 0.5 * torch.exp(logvar) * eps,
                 })


@pytest.mark.question("5.6", weight=2)
@pytest.mark.parametrize("case", range(len(REPARAM_SHAPES)))
def test_reparameterize_gradients(submission, case):
    """Gradients of sum(w * z) w.r.t. mu and logvar equal autograd's (w, and
    w eps exp(logvar / 2) / 2): the whole point of the trick. Fails: a detached mu or logvar
    (values right, gradient 0 or missing), exp(logvar) as std, logvar * eps."""
    mu, logvar, eps, w = reparam_case(case)
    leaves = [leaf(mu), leaf(logvar)]
    expected = torch.autograd.grad((w * reparam_reference(*leaves, eps)).sum(), leaves)
    check = "reparameterize(mu, logvar, eps), back-propagating sum(w * z)"
    got = grads_of(submission, "reparameterize", [mu, logvar, eps], [0, 1], [w], check, "5.6")
    zero_hint = "{} was detached: no gradient flows back to it, which the trick exists for (Q5.6)"
    assert_grad(got[0], expected[0], name="mu", check=check, inputs=reparam_inputs(case),
                question="5.6", mistakes={zero_hint.format("mu"): torch.zeros_like(mu)})
    assert_grad(got[1], expected[1], name="logvar", check=check, inputs=reparam_inputs(case),
                question="5.6", mistakes={
                    zero_hint.format("logvar"): torch.zeros_like(logvar),
                    "exp(logvar) was used as the standard deviation (d z / d logvar = "
                    "eps exp(logvar) here): std = exp(logvar / 2) (Q5.6)":
                        w * eps * torch.exp(logvar),
                    "d z / d logvar = eps: z = mu + logvar * eps (Q5.6)": w * eps,
                })


@pytest.mark.question("5.6", weight=0.5)
def test_reparameterize_inputs_not_modified(submission):
    """mu, logvar, eps unchanged. Fails: eps.mul_(std).add_(mu), logvar.mul_(0.5).exp_()."""
    mu, logvar, eps, _ = reparam_case(0)
    _, after, _ = submission.call_with_inputs(MODULE, "reparameterize", mu, logvar, eps)
    assert_unchanged({"mu": mu, "logvar": logvar, "eps": eps},
                     dict(zip(["mu", "logvar", "eps"], after)),
                     check="reparameterize(mu, logvar, eps)")


# ----------------------------------------------------------------------------------------------
# Q5.7 — categorical_elbo
# ----------------------------------------------------------------------------------------------

CAT_SPECS = [(4, 3, "shared"), (5, 6, "per_example"), (1, 4, "shared"), (3, 5, "per_example")]


@functools.cache
def cat_case(case):
    B, K, prior_kind = CAT_SPECS[case]
    rng = case_rng("vae.categorical", case)
    log_px = -rng.uniform(0.1, 8, (B, K))
    q_logits = rng.normal(0, 2, (B, K))
    prior = rng.normal(0, 1, K if prior_kind == "shared" else (B, K))
    return T(log_px), T(q_logits), T(prior)


def cat_edge_case(name):
    """Zero probabilities (logit -inf) and a nearly one-hot q, as torch.distributions treats them:
    - q_zero: q(k) = 0 for some k (prior > 0 there): those terms count 0;
    - both_zero: the prior excludes k and q does too: the term counts 0 (KL finite);
    - excluded: q puts mass on a k the prior excludes: KL = +inf, ELBO = -inf;
    - one_hot: q logits 800 apart, so q(k) underflows to exactly 0: the term counts 0."""
    rng = case_rng("vae.categorical.edge", name)
    B, K = 4, 5
    log_px = T(-rng.uniform(0.1, 8, (B, K)))
    q = rng.normal(0, 2, (B, K))
    prior = rng.normal(0, 1, (B, K))
    if name == "q_zero":
        q[0, 1] = q[2, 4] = q[2, 0] = NEG_INF
        prior = prior[0]
    elif name == "both_zero":
        prior[:, 2] = NEG_INF
        prior[1, 4] = NEG_INF
        q[:, 2] = NEG_INF
        q[1, 4] = NEG_INF
    elif name == "excluded":
        prior[1, 3] = NEG_INF
    elif name == "one_hot":
        q[:, 0] += 800.0
        q[3, 2] += 1600.0
        prior = prior[0]
    return log_px, T(q), T(prior)


CAT_EDGES = ["q_zero", "both_zero", "excluded", "one_hot"]


def cat_reference(log_px, q_logits, prior_logits):
    """mean_b [E_q log p(x|z) - KL(q || p)] with torch.distributions.Categorical (its KL gives
    0 where q(k) = 0 and +inf where only the prior is 0)."""
    q = Categorical(logits=q_logits)
    p = Categorical(logits=prior_logits.expand_as(q_logits))
    return ((q.probs * log_px).sum(-1) - kl_divergence(q, p)).mean()


def cat_mistakes(log_px, q_logits, prior_logits):
    q = Categorical(logits=q_logits)
    p = Categorical(logits=prior_logits.expand_as(q_logits))
    rec, kl = (q.probs * log_px).sum(-1), kl_divergence(q, p)
    with torch.no_grad():
        raw_kl = (q.probs * (q_logits - prior_logits)).sum(-1)
    return {
        "reversed KL: this is KL(prior || q); the ELBO subtracts KL(q || prior) (Q5.7)":
            (rec - kl_divergence(p, q)).mean(),
        "added the KL: ELBO = E_q[log p(x|z)] MINUS KL (Q5.7)": (rec + kl).mean(),
        "summed over the batch: the result is the MEAN over the batch (Q5.7)": (rec - kl).sum(),
        "used unnormalised logits as log-probabilities: apply log_softmax first (Q5.7)":
            (rec - raw_kl).mean(),
        "the expected log-likelihood must be weighted by q(k|x): sum_k q(k) log p(x|k) (Q5.7)":
            (log_px.mean(-1) - kl).mean(),
    }


def cat_inputs(log_px, q_logits, prior_logits):
    return {"log_px_given_z": log_px, "q_logits": q_logits, "prior_logits": prior_logits}


@pytest.mark.question("5.7", weight=2)
@pytest.mark.parametrize("case", range(len(CAT_SPECS)))
def test_categorical_elbo_values(submission, case):
    """Exact ELBO by enumeration, prior (K,) shared or (B, K). Fails: reversed KL, +KL, logits as
    log-probs, an unweighted likelihood, a sum over the batch."""
    args = cat_case(case)
    got = submission.call(MODULE, "categorical_elbo", *args)
    assert_close(got, cat_reference(*args),
                 check="categorical_elbo(log_px_given_z, q_logits, prior_logits)",
                 inputs=cat_inputs(*args), mistakes=cat_mistakes(*args))


def cat_grad_check(submission, args, check):
    """Gradients of 0.7 * ELBO w.r.t. the three inputs vs torch's, where torch's are finite and
    the example's ELBO is finite (the gradient of an infinite value means nothing: torch's is
    an artefact of how it writes its +inf, and another correct implementation may differ)."""
    leaves = [leaf(a) for a in args]
    weight = torch.tensor(0.7, dtype=torch.float64)
    expected = torch.autograd.grad(weight * cat_reference(*leaves), leaves)
    q = Categorical(logits=args[1])
    per_example = (q.probs * args[0]).sum(-1) - kl_divergence(
        q, Categorical(logits=args[2].expand_as(args[1])))
    finite_rows = torch.isfinite(per_example)
    got = grads_of(submission, "categorical_elbo", list(args), [0, 1, 2], [weight], check, "5.7")
    for g, e, name in zip(got, expected, ["log_px_given_z", "q_logits", "prior_logits"]):
        rows = finite_rows[:, None] if e.dim() == 2 else finite_rows.all()
        finite = (torch.isfinite(e) & rows).numpy()
        if finite.any():
            assert_grad(g, e, name=name, check=check, inputs=cat_inputs(*args), question="5.7",
                        where=finite)


@pytest.mark.question("5.7", weight=1.5)
@pytest.mark.parametrize("case", range(len(CAT_SPECS)))
def test_categorical_elbo_gradients(submission, case):
    """Gradients of 0.7 * ELBO w.r.t. log_px_given_z, q_logits and prior_logits equal torch's
    autograd on the torch.distributions ELBO. Fails: detached q or prior, wrong KL direction,
    an unweighted likelihood."""
    cat_grad_check(submission, cat_case(case), "categorical_elbo(...), back-propagating 0.7 * ELBO")


def cat_edge_mistakes(edge, log_px, q_logits, prior_logits):
    """hint -> what the mistaken formulas give on an edge case (nan and inf included), in torch."""
    q, p = torch.softmax(q_logits, -1), torch.softmax(prior_logits, -1).expand_as(q_logits)
    log_q, log_p = torch.log_softmax(q_logits, -1), torch.log_softmax(prior_logits, -1)
    rec = (q * log_px).sum(-1)
    elbo = lambda kl_terms: (rec - kl_terms.sum(-1)).mean()                   # noqa: E731
    zero_hint = {"both_zero": "a term where q(k) = 0 counts 0 even when the prior is 0 too: "
                              "mask it, e.g. with torch.where, instead of computing "
                              "0 * (-inf - (-inf)) = nan (Q5.7)"}.get(
        edge, "a term with q(k) = 0 counts 0 (0 log 0 = 0): mask it, e.g. with torch.where, "
              "instead of computing 0 * (-inf) = nan (Q5.7)")
    # Only the mistakes each edge is built to reveal: on these inputs a nan or an infinity is all
    # a result shows, and several formulas give the same one.
    edge_formula = {
        "q_zero": (zero_hint, lambda: elbo(q * (log_q - log_p))),
        "both_zero": (zero_hint, lambda: elbo(q * (log_q - log_p))),
        "excluded": ("a small constant added to the prior (log(p + 1e-10)): when q puts mass on a "
                     "value the prior excludes, KL(q || p) = +inf and the ELBO is -inf (Q5.7)",
                     lambda: elbo(torch.xlogy(q, q) - q * torch.log(p + 1e-10))),
        "one_hot": ("q(k) rounds to exactly 0 for a logit far below the others, and log(0) = "
                    "-inf: use log_softmax, not log(softmax) (Q5.7)",
                    lambda: elbo(q * (torch.log(q) - log_p))),
    }[edge]
    return {
        edge_formula[0]: edge_formula[1](),
        "reversed KL: this is KL(prior || q); the ELBO subtracts KL(q || prior) (Q5.7)":
            elbo(p * (log_p - log_q)),
    }


@pytest.mark.question("5.7", weight=2.5)
@pytest.mark.parametrize("edge", CAT_EDGES)
def test_categorical_elbo_zero_probabilities(submission, edge):
    """torch.distributions' conventions, see cat_edge_case: value equal (finite, or -inf for
    'excluded'), gradients equal where torch's are finite, in examples whose ELBO is finite
    (torch's q-logit gradients are nan in rows holding a zero probability: not compared). Fails: nan from 0 log 0 or
    0 * (-inf - -inf), log(p + 1e-10) (finite instead of -inf), log(softmax) underflowing on a
    nearly one-hot q, nan gradients in rows where torch's are finite."""
    args = cat_edge_case(edge)
    check = f"categorical_elbo(...) with zero probabilities ({edge})"
    got = submission.call(MODULE, "categorical_elbo", *args)
    expected = cat_reference(*args)
    # Finiteness first: a finite ELBO where torch gives -inf must fail (assert_close's relative
    # tolerance is infinite there), and a nan gets the hint of the formula that gives it.
    assert_finite_like(got, expected, check=check, inputs=cat_inputs(*args),
                       mistakes=cat_edge_mistakes(edge, *args))
    assert_close(got, expected, check=check, inputs=cat_inputs(*args),
                 mistakes=[*cat_edge_mistakes(edge, *args).items(), *cat_mistakes(*args).items()])
    cat_grad_check(submission, args, f"{check}, back-propagating 0.7 * ELBO")


@pytest.mark.question("5.7", weight=0.5)
def test_categorical_elbo_inputs_not_modified(submission):
    """Inputs unchanged. Fails: q_logits.sub_(logsumexp), in-place masking."""
    args = cat_case(1)
    _, after, _ = submission.call_with_inputs(MODULE, "categorical_elbo", *args)
    names = ["log_px_given_z", "q_logits", "prior_logits"]
    assert_unchanged(dict(zip(names, args)), dict(zip(names, after)),
                     check="categorical_elbo(log_px_given_z, q_logits, prior_logits)")
