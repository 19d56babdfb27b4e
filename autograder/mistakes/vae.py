"""Mistaken formulas of vae.py (Part 5): what each known mistake returns, for hints.

One function per student function, taking that function's own inputs (torch tensors, modules,
callables) and `expected` (torch's result on them) and returning {hint: the result of the
mistaken formula on those inputs} (a tuple for a function that returns one). Values keep their
autograd graph: differentiating a mistaken formula gives the gradient that mistake produces, so
the same catalogue names mistakes seen only in gradients. A grader or a public check shows a
hint only when the student's result matches its value. Each value is built from `expected` or
from torch ingredients (torch.distributions, F.binary_cross_entropy_with_logits, autograd) with
only the mistake applied.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Categorical, Normal, kl_divergence

LOGITS = "the decoder gives logits: return them as they are, with no sigmoid"
STD = "std = exp(logvar / 2)"


# --- Q5.1 -------------------------------------------------------------------------------------
def ae_forward(x, encoder, decoder, expected) -> dict:
    return {"returned probabilities: " + LOGITS: torch.sigmoid(expected)}


def vae_forward(x, encoder, decoder, eps, expected) -> dict:
    """{hint: (x_logits, mu, logvar, z)}."""
    x_logits, mu, logvar, z = expected
    stats = encoder(x)
    d = stats.shape[1] // 2

    def sampled(mu_, logvar_, z_):
        return decoder(z_), mu_, logvar_, z_

    def with_z(z_):
        return sampled(mu, logvar, z_)

    return {
        "the encoder's output is [mu | logvar]: mu is the first D columns, logvar the last D":
            sampled(stats[:, d:], stats[:, :d], stats[:, d:] + torch.exp(stats[:, :d] / 2) * eps),
        "the halves are contiguous blocks [mu | logvar], not interleaved columns":
            sampled(stats[:, 0::2], stats[:, 1::2],
                    stats[:, 0::2] + torch.exp(stats[:, 1::2] / 2) * eps),
        f"exp(logvar) used as the standard deviation: {STD}": with_z(mu + torch.exp(logvar) * eps),
        f"z = mu + logvar * eps: logvar is a log-variance, {STD}": with_z(mu + logvar * eps),
        f"exp(-logvar / 2) used as the standard deviation: {STD}":
            with_z(mu + torch.exp(-logvar / 2) * eps),
        "z = mu: the noise eps was ignored; z = mu + exp(logvar / 2) * eps": with_z(mu),
        "decoded mu instead of the sample z": (decoder(mu), mu, logvar, z),
        "returned probabilities: " + LOGITS: (torch.sigmoid(x_logits), mu, logvar, z),
        "returned the standard deviation where logvar belongs: the third output is logvar":
            (x_logits, mu, torch.exp(logvar / 2), z),
        "returned the variance where logvar belongs: the third output is logvar":
            (x_logits, mu, torch.exp(logvar), z),
    }


def vae_generate(decoder, eps, expected) -> dict:
    return {"returned probabilities: " + LOGITS: torch.sigmoid(expected)}


# --- Q5.2 -------------------------------------------------------------------------------------
def _mean_f_gradient(f, mu, sigma, z_of):
    """The gradient of mean_s f(z_of(mu, sigma)) w.r.t. (mu, sigma), by autograd on copies."""
    m, s = mu.detach().requires_grad_(), sigma.detach().requires_grad_()
    with torch.enable_grad():
        return torch.autograd.grad(f(z_of(m, s)).mean(), (m, s))


def pathwise_grad(f, mu, sigma, eps, expected) -> dict:
    """{hint: (grad_mu, grad_sigma)}."""
    g_mu, g_sigma = expected
    n = eps.shape[0]
    return {
        "this is the gradient w.r.t. log sigma (sigma · d/d sigma): the question asks for the "
        "gradient w.r.t. sigma itself": (g_mu, sigma * g_sigma),
        "forgot the chain-rule factor eps: d z / d sigma = eps": (g_mu, g_mu),
        "summed over the samples instead of averaging": (n * g_mu, n * g_sigma),
        "sign error: the estimate is + the gradient of the mean of f": (-g_mu, -g_sigma),
        "returned (grad_sigma, grad_mu): the order is (grad_mu, grad_sigma)": (g_sigma, g_mu),
        "read sigma as a variance (z = mu + sqrt(sigma) eps): sigma is the standard deviation":
            _mean_f_gradient(f, mu, sigma, lambda m, s: m + s.sqrt() * eps),
        "read sigma as log sigma (z = mu + exp(sigma) eps): sigma is the standard deviation":
            _mean_f_gradient(f, mu, sigma, lambda m, s: m + s.exp() * eps),
        "read sigma as a log-variance (z = mu + exp(sigma / 2) eps): sigma is the standard "
        "deviation": _mean_f_gradient(f, mu, sigma, lambda m, s: m + torch.exp(s / 2) * eps),
    }


def score_function_grad(f, logits, samples, expected) -> dict:
    k, n = logits.shape[0], samples.shape[0]
    values = torch.as_tensor(f(samples)).detach().to(logits.dtype)
    q = torch.softmax(logits.detach(), -1)
    scores = F.one_hot(samples, k).to(logits.dtype) - q           # grad log q(z_s), per sample
    leaf = logits.detach().requires_grad_()
    with torch.enable_grad():
        (through_softmax,) = torch.autograd.grad(
            (values * torch.softmax(leaf, -1)[samples]).mean(), leaf)
    return {
        "differentiated softmax(logits)[z] instead of log softmax(logits)[z]: the score is "
        "grad log q": through_softmax,
        "sign error: the estimate is + mean f(z) grad log q(z)": -expected,
        "summed over the samples instead of averaging": n * expected,
        "subtracted a baseline: this question asks for the plain estimator, no baseline":
            expected - values.mean() * scores.mean(0),
        "f(z) is missing: the estimate weights each score by f(z_s)": scores.mean(0),
        "differentiated logits[z] instead of log softmax(logits)[z]: the normaliser "
        "log sum exp(logits) has a gradient too": expected + values.mean() * q,
    }


# --- Q5.4 -------------------------------------------------------------------------------------
def _log_p(x, x_logits):
    """log p(x_pixel | logit) for every pixel, from torch's BCE with logits."""
    return -F.binary_cross_entropy_with_logits(x_logits, x, reduction="none")


def _per_example(pixels):
    return pixels.reshape(len(pixels), -1).sum(1)


def bernoulli_log_likelihood(x, x_logits, expected) -> dict:
    log_p = _log_p(x, x_logits)
    found = {
        "averaged over pixels: the log-likelihood of an example is the SUM over its pixels":
            expected / log_p[0].numel(),
        "sign error: this is the binary cross-entropy, the log-likelihood is its negative":
            -expected,
        "returned the mean over the batch: the result is per example, shape (B,)":
            expected.mean(),
        "returned the sum over the batch: the result is per example, shape (B,)":
            expected.sum(),
        "the (1 - x) log(1 - sigmoid(l)) term is missing":
            _per_example(x * F.logsigmoid(x_logits)),
        "the x log sigmoid(l) term is missing": _per_example((1 - x) * F.logsigmoid(-x_logits)),
        "targets swapped: x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)), not x log(1 - "
        "sigmoid(l)) + ...": _per_example(_log_p(1 - x, x_logits)),
        "log(sigmoid(l)) or log(1 - sigmoid(l)) is -inf once sigmoid(l) rounds to 0 or 1 "
        "(|l| of a few tens): use F.logsigmoid(l), and log(1 - sigmoid(l)) = logsigmoid(-l)":
            _per_example(x * torch.log(torch.sigmoid(x_logits))
                         + (1 - x) * torch.log(1 - torch.sigmoid(x_logits))),
        "the log-likelihood went through probabilities (F.binary_cross_entropy of sigmoid(l)): "
        "its gradient is 0 once sigmoid(l) rounds to 0 or 1; use F.logsigmoid or "
        "F.binary_cross_entropy_with_logits":
            -_per_example(F.binary_cross_entropy(torch.sigmoid(x_logits), x, reduction="none")),
    }
    if x.dim() > 2:
        found["summed over the last axis only: sum over every non-batch axis, (B,)"] = \
            log_p.sum(-1)
    for eps in (1e-7, 1e-8, 1e-10, 1e-12):
        p = torch.sigmoid(x_logits).clamp(eps, 1 - eps)
        found[f"probabilities clamped to [{eps:g}, 1 - {eps:g}] before the log: wrong for large "
              f"logits; use F.logsigmoid"] = \
            _per_example(x * torch.log(p) + (1 - x) * torch.log(1 - p))
    return found


def _gaussian_kl(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension, from torch.distributions."""
    return kl_divergence(Normal(mu, torch.exp(logvar / 2)), Normal(torch.zeros_like(mu),
                                                                   torch.ones_like(mu)))


def elbo(x, x_logits, mu, logvar, expected) -> dict:
    rec = _per_example(_log_p(x, x_logits))
    kl = _gaussian_kl(mu, logvar).sum(-1)
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    kl_log_std = kl_divergence(Normal(mu, torch.exp(logvar)), prior).sum(-1)
    return {
        "added the KL: the ELBO is log p(x|z) MINUS KL(q || p)": (rec + kl).mean(),
        "summed over the batch: the ELBO is the MEAN over the batch": expected * len(rec),
        "returned the loss -ELBO: the function returns the ELBO itself, to be maximised":
            -expected,
        "returned one ELBO per example: the result is their mean, a 0-d tensor": rec - kl,
        "the log-likelihood was averaged over pixels: sum it": (rec / x[0].numel() - kl).mean(),
        "the KL term is missing its factor 1/2": (rec - 2 * kl).mean(),
        "the KL term reads logvar as log sigma: the variance is exp(logvar)":
            (rec - kl_log_std).mean(),
        "the KL term is averaged over the latent dimensions: sum it":
            (rec - kl / mu.shape[1]).mean(),
        "the KL term is missing: ELBO = log p(x|z) - KL(q(z|x) || N(0, I))": rec.mean(),
        "the reconstruction term is missing: ELBO = log p(x|z) - KL": -kl.mean(),
    }


# --- Q5.5 -------------------------------------------------------------------------------------
def gaussian_kl(mu, logvar, expected) -> dict:
    d = mu.shape[-1]
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return {
        "missing the factor 1/2 of the Gaussian KL": 2 * expected,
        "sign error: KL >= 0, it is 1/2 sum (mu² + exp(logvar) - 1 - logvar)": -expected,
        "read logvar as log sigma: the variance is exp(logvar), not exp(2 logvar)":
            kl_divergence(Normal(mu, torch.exp(logvar)), prior).sum(-1),
        "read logvar as the variance: it is its log, the variance is exp(logvar)":
            0.5 * (mu**2 + logvar - 1 - torch.log(logvar)).sum(-1),
        "averaged over the latent dimensions: the KL of a diagonal Gaussian is the SUM over D":
            expected / d,
        "reversed: this is KL(N(0, I) || q); the question asks for KL(q || N(0, I))":
            kl_divergence(prior, Normal(mu, torch.exp(logvar / 2))).sum(-1),
        "returned one KL per dimension: sum over D to get (B,)": _gaussian_kl(mu, logvar),
        "summed over the batch too: the result is one KL per example, (B,)": expected.sum(),
        "averaged over the batch: the result is one KL per example, (B,)": expected.mean(),
        "sign of the log term: it is - logvar": expected + logvar.sum(-1),
        "+ 1 instead of - 1 in 1/2 (mu² + exp(logvar) - 1 - logvar)": expected + d,
        "the - 1 is missing from 1/2 (mu² + exp(logvar) - 1 - logvar)": expected + d / 2,
        "mu is not squared: 1/2 (mu² + exp(logvar) - 1 - logvar)":
            expected + 0.5 * (mu - mu**2).sum(-1),
    }


# --- Q5.6 -------------------------------------------------------------------------------------
def reparameterize(mu, logvar, eps, expected) -> dict:
    return {
        f"used the variance exp(logvar) as the standard deviation: {STD}":
            mu + torch.exp(logvar) * eps,
        f"z = mu + logvar * eps: logvar is a log-variance, {STD}": mu + logvar * eps,
        f"std = sqrt(logvar): logvar is the log of the variance, {STD}":
            mu + torch.sqrt(logvar) * eps,
        f"std = exp(logvar) / 2: the 1/2 goes inside the exp, {STD}":
            mu + 0.5 * torch.exp(logvar) * eps,
        f"std = exp(-logvar / 2): {STD}": mu + torch.exp(-logvar / 2) * eps,
        "ignored eps: z = mu + exp(logvar / 2) * eps": mu,
        "eps subtracted: z = mu + exp(logvar / 2) * eps": 2 * mu - expected,
    }


# --- Q5.7 -------------------------------------------------------------------------------------
def categorical_elbo(log_px_given_z, q_logits, prior_logits, expected) -> dict:
    log_px = log_px_given_z
    prior_logits = prior_logits.expand_as(q_logits)
    q_dist, p_dist = Categorical(logits=q_logits), Categorical(logits=prior_logits)
    q, p = q_dist.probs, p_dist.probs
    log_q, log_p = torch.log_softmax(q_logits, -1), torch.log_softmax(prior_logits, -1)
    rec, kl = (q * log_px).sum(-1), kl_divergence(q_dist, p_dist)

    def with_kl_terms(terms):
        return (rec - terms.sum(-1)).mean()

    return {
        "reversed KL: this is KL(prior || q); the ELBO subtracts KL(q || prior)":
            (rec - kl_divergence(p_dist, q_dist)).mean(),
        "added the KL: ELBO = E_q[log p(x|z)] MINUS KL": (rec + kl).mean(),
        "summed over the batch: the result is the MEAN over the batch": expected * len(rec),
        "returned one ELBO per example: the result is their mean, a 0-d tensor": rec - kl,
        "returned the loss -ELBO: the function returns the ELBO itself": -expected,
        "used the unnormalised q_logits as log q: apply log_softmax first":
            with_kl_terms(q * (q_logits - log_p)),
        "used the unnormalised prior_logits as log p: apply log_softmax first":
            with_kl_terms(q * (log_q - prior_logits)),
        "used unnormalised logits as log-probabilities: apply log_softmax first":
            with_kl_terms(q * (q_logits - prior_logits)),
        "the expected log-likelihood must be weighted by q(k|x): sum_k q(k) log p(x|k)":
            (log_px.mean(-1) - kl).mean(),
        "the expected log-likelihood is sum_k q(k) log p(x|k), weighted by q, not summed "
        "unweighted": (log_px.sum(-1) - kl).mean(),
        "the expected log-likelihood is weighted by the prior: the expectation is under q(k|x)":
            ((p * log_px).sum(-1) - kl).mean(),
        "the KL term is missing: ELBO = E_q[log p(x|z)] - KL(q || prior)": rec.mean(),
        "the expected log-likelihood is missing: ELBO = E_q[log p(x|z)] - KL": -kl.mean(),
        "a term with q(k) = 0 counts 0 (0 log 0 = 0, even where the prior is 0 too): mask it, "
        "e.g. with torch.where, instead of computing 0 * (-inf) = nan":
            with_kl_terms(q * (log_q - log_p)),
        "q(k) rounds to exactly 0 for a logit far below the others, and log(0) = -inf: use "
        "log_softmax, not log(softmax)": with_kl_terms(q * (torch.log(q) - log_p)),
        "log(softmax) where q(k) rounds to 0: masking the term keeps the value right, but "
        "log(0) = -inf still reaches the gradient (nan); use log_softmax":
            with_kl_terms(torch.where(q == 0, torch.zeros_like(q), q * (torch.log(q) - log_p))),
        "a small constant added inside the logs (log(p + 1e-10)): when q puts mass on a value "
        "the prior excludes, KL(q || p) = +inf and the ELBO is -inf":
            with_kl_terms(q * (torch.log(q + 1e-10) - torch.log(p + 1e-10))),
    }
