"""Public checks for vae.py (Part 5): your functions against PyTorch, float64.

Run from your folder: `pytest tests/test_vae.py` (or `dlexam check 5`). Passing these checks
does not guarantee full marks: the grader uses other inputs and more checks (gradients, edge
cases, inputs left unchanged).
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Categorical, Normal, kl_divergence

import vae

DT = torch.float64   # every tensor here is float64


def close(got, expected, what, rtol=1e-4, atol=1e-6):
    assert isinstance(got, torch.Tensor), \
        f"{what}: expected a torch tensor, got {type(got).__name__}"
    assert got.shape == expected.shape, \
        f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    assert torch.allclose(got.detach().double(), expected.detach(), rtol=rtol, atol=atol,
                          equal_nan=False), f"{what}: expected {expected}, got {got}"


def mlp(n_in, hidden, n_out, seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, n_out)).double()


# --- Q5.1 ------------------------------------------------------------------------------------

@pytest.mark.question("5.1")
@pytest.mark.parametrize("seed", [11, 12])
def test_ae_forward(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(5, 6, generator=g, dtype=DT)
    encoder, decoder = mlp(6, 4, 3, seed), mlp(3, 4, 6, seed + 100)
    got = vae.ae_forward(x, encoder, decoder)
    close(got, decoder(encoder(x)), "ae_forward")
    got.sum().backward()
    assert encoder[0].weight.grad is not None, "ae_forward: no gradient reached the encoder"


@pytest.mark.question("5.1")
@pytest.mark.parametrize("seed", [21, 22])
def test_vae_forward(seed):
    g = torch.Generator().manual_seed(seed)
    B, D = 4, 3
    x = torch.rand(B, 7, generator=g, dtype=DT)
    eps = torch.randn(B, D, generator=g, dtype=DT)
    encoder, decoder = mlp(7, 5, 2 * D, seed), mlp(D, 5, 7, seed + 100)
    x_logits, mu, logvar, z = vae.vae_forward(x, encoder, decoder, eps)
    stats = encoder(x)
    close(mu, stats[:, :D], "vae_forward: mu (the first D columns of the encoder's output)")
    close(logvar, stats[:, D:], "vae_forward: logvar (the last D columns)")
    close(z, stats[:, :D] + torch.exp(0.5 * stats[:, D:]) * eps, "vae_forward: z")
    close(x_logits, decoder(z.detach()), "vae_forward: x_logits = decoder(z)")
    x_logits.sum().backward()
    assert encoder[0].weight.grad is not None and encoder[0].weight.grad.abs().sum() > 0, \
        "vae_forward: no gradient reached the encoder through z"


@pytest.mark.question("5.1")
def test_vae_generate():
    g = torch.Generator().manual_seed(31)
    eps = torch.randn(6, 2, generator=g, dtype=DT)
    decoder = mlp(2, 4, 5, 31)
    close(vae.vae_generate(decoder, eps), decoder(eps), "vae_generate")


# --- Q5.2 ------------------------------------------------------------------------------------

def quadratic(a, c):
    return lambda z: (a * z**2 + c * z).sum(-1)


@pytest.mark.question("5.2")
@pytest.mark.parametrize("seed", [41, 42])
def test_pathwise_grad_matches_autograd(seed):
    g = torch.Generator().manual_seed(seed)
    D, S = 3, 6
    a, c, mu = (torch.randn(D, generator=g, dtype=DT) for _ in range(3))
    sigma = torch.rand(D, generator=g, dtype=DT) * 2 + 0.2
    eps = torch.randn(S, D, generator=g, dtype=DT)
    f = quadratic(a, c)
    got_mu, got_sigma = vae.pathwise_grad(f, mu, sigma, eps)
    m, s = mu.clone().requires_grad_(), sigma.clone().requires_grad_()
    want_mu, want_sigma = torch.autograd.grad(f(m + s * eps).mean(), (m, s))
    close(got_mu, want_mu, "pathwise_grad: grad_mu")
    close(got_sigma, want_sigma, "pathwise_grad: grad_sigma (w.r.t. sigma, not log sigma)")


@pytest.mark.question("5.2")
def test_pathwise_grad_is_unbiased():
    """Many samples: close to the exact gradient of E[f] = sum a (mu^2 + sigma^2) + c mu."""
    g = torch.Generator().manual_seed(43)
    D, S = 2, 5000
    a, c = torch.tensor([1.0, -0.5], dtype=DT), torch.tensor([0.3, 1.0], dtype=DT)
    mu, sigma = torch.tensor([0.5, -1.0], dtype=DT), torch.tensor([0.3, 2.0], dtype=DT)
    eps = torch.randn(S, D, generator=g, dtype=DT)
    got_mu, got_sigma = vae.pathwise_grad(quadratic(a, c), mu, sigma, eps)
    close(got_mu, 2 * a * mu + c, "pathwise_grad: grad_mu vs exact", rtol=0, atol=0.25)
    close(got_sigma, 2 * a * sigma, "pathwise_grad: grad_sigma vs exact", rtol=0, atol=0.25)


@pytest.mark.question("5.2")
@pytest.mark.parametrize("seed", [51, 52])
def test_score_function_grad(seed):
    g = torch.Generator().manual_seed(seed)
    K, S = 4, 8
    table = torch.randn(K, generator=g, dtype=DT)
    logits = torch.randn(K, generator=g, dtype=DT)
    samples = torch.multinomial(torch.softmax(logits, -1), S, replacement=True, generator=g)
    got = vae.score_function_grad(lambda k: table[k], logits, samples)
    l = logits.clone().requires_grad_()
    surrogate = (table[samples] * Categorical(logits=l).log_prob(samples)).mean()
    (want,) = torch.autograd.grad(surrogate, l)
    close(got, want, "score_function_grad")


# --- Q5.4 ------------------------------------------------------------------------------------

@pytest.mark.question("5.4")
@pytest.mark.parametrize("shape", [(3, 5), (2, 2, 3, 3)])
def test_bernoulli_log_likelihood(shape):
    g = torch.Generator().manual_seed(61)
    x = torch.rand(shape, generator=g, dtype=DT)
    logits = torch.randn(shape, generator=g, dtype=DT) * 3
    want = Bernoulli(logits=logits, validate_args=False).log_prob(x).flatten(1).sum(1)
    close(vae.bernoulli_log_likelihood(x, logits), want, "bernoulli_log_likelihood")


@pytest.mark.question("5.4")
def test_bernoulli_log_likelihood_extreme_logits():
    x = torch.tensor([[0.0, 1.0, 1.0, 0.0, 0.3]], dtype=DT)
    logits = torch.tensor([[100.0, -100.0, 100.0, -100.0, 100.0]], dtype=DT, requires_grad=True)
    got = vae.bernoulli_log_likelihood(x, logits)
    close(got, -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1),
          "bernoulli_log_likelihood at logits ±100")
    got.sum().backward()
    assert torch.isfinite(logits.grad).all(), \
        "bernoulli_log_likelihood: non-finite gradient at ±100"


@pytest.mark.question("5.4")
@pytest.mark.parametrize("seed", [71, 72])
def test_elbo(seed):
    g = torch.Generator().manual_seed(seed)
    B, P, D = 4, 6, 2
    x = (torch.rand(B, P, generator=g, dtype=DT) < 0.5).double()
    logits = (torch.randn(B, P, generator=g, dtype=DT) * 2).requires_grad_()
    mu = torch.randn(B, D, generator=g, dtype=DT).requires_grad_()
    logvar = torch.randn(B, D, generator=g, dtype=DT).requires_grad_()
    got = vae.elbo(x, logits, mu, logvar)
    rec = Bernoulli(logits=logits).log_prob(x).sum(1)
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), prior).sum(1)
    want = (rec - kl).mean()
    close(got, want, "elbo")
    for name, t, gw, gg in zip(["x_logits", "mu", "logvar"], [logits, mu, logvar],
                               torch.autograd.grad(want, [logits, mu, logvar]),
                               torch.autograd.grad(got, [logits, mu, logvar])):
        close(gg, gw, f"elbo: gradient w.r.t. {name}")


# --- Q5.5 ------------------------------------------------------------------------------------

@pytest.mark.question("5.5")
@pytest.mark.parametrize("seed", [81, 82])
def test_gaussian_kl(seed):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(3, 4, generator=g, dtype=DT)
    logvar = torch.randn(3, 4, generator=g, dtype=DT)
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    want = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), prior).sum(-1)
    close(vae.gaussian_kl(mu, logvar), want, "gaussian_kl")


# --- Q5.6 ------------------------------------------------------------------------------------

@pytest.mark.question("5.6")
@pytest.mark.parametrize("seed", [91, 92])
def test_reparameterize(seed):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(3, 2, generator=g, dtype=DT).requires_grad_()
    logvar = (torch.rand(3, 2, generator=g, dtype=DT) * 4 - 3).requires_grad_()
    eps = torch.randn(3, 2, generator=g, dtype=DT)
    got = vae.reparameterize(mu, logvar, eps)
    want = mu + torch.exp(0.5 * logvar) * eps
    close(got, want, "reparameterize")
    w = torch.randn(3, 2, generator=g, dtype=DT)
    got_grads = torch.autograd.grad((w * got).sum(), [mu, logvar], allow_unused=True)
    want_grads = torch.autograd.grad((w * want).sum(), [mu, logvar])
    for name, gg, gw in zip(["mu", "logvar"], got_grads, want_grads):
        assert gg is not None, f"reparameterize: no gradient reached {name}"
        close(gg, gw, f"reparameterize: gradient w.r.t. {name}")


# --- Q5.7 ------------------------------------------------------------------------------------

def categorical_reference(log_px, q_logits, prior_logits):
    q = Categorical(logits=q_logits)
    p = Categorical(logits=prior_logits.expand_as(q_logits))
    return ((q.probs * log_px).sum(-1) - kl_divergence(q, p)).mean()


@pytest.mark.question("5.7")
@pytest.mark.parametrize("prior_shape", ["shared", "per_example"])
def test_categorical_elbo(prior_shape):
    g = torch.Generator().manual_seed(101)
    B, K = 3, 4
    log_px = -torch.rand(B, K, generator=g, dtype=DT) * 5
    q_logits = torch.randn(B, K, generator=g, dtype=DT)
    prior = torch.randn(K if prior_shape == "shared" else (B, K), generator=g, dtype=DT)
    close(vae.categorical_elbo(log_px, q_logits, prior),
          categorical_reference(log_px, q_logits, prior), "categorical_elbo")


@pytest.mark.question("5.7")
def test_categorical_elbo_zero_probabilities():
    inf = math.inf
    log_px = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -1.5, -2.5]], dtype=DT)
    q_logits = torch.tensor([[0.0, -inf, 1.0], [0.5, 0.2, -inf]], dtype=DT)
    prior = torch.tensor([0.0, 0.3, -inf], dtype=DT)
    got = vae.categorical_elbo(log_px, q_logits, prior)   # terms with q(k) = 0 count 0
    close(got, categorical_reference(log_px, q_logits, prior), "categorical_elbo with q(k) = 0")
    # q puts mass on a value the prior excludes
    q_logits = torch.tensor([[0.0, 1.0, 1.0], [0.5, 0.2, -inf]], dtype=DT)
    got = vae.categorical_elbo(log_px, q_logits, prior)
    assert got.item() == -inf, f"categorical_elbo: expected -inf (KL = +inf), got {got.item()}"
