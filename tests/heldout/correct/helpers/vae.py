"""Part 5 — auto-encoders, VAEs and gradient estimators, torch (held-out corpus,
style: torch.distributions and closed-form score).

The likelihood and both KLs come from torch.distributions; the score-function estimate uses
the closed form grad log softmax(logits)[k] = onehot(k) - softmax(logits).
"""

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Categorical, Normal, kl_divergence


def ae_forward(x, encoder, decoder):
    code = encoder(x)
    return decoder(code)


def vae_forward(x, encoder, decoder, eps):
    mu, logvar = torch.chunk(encoder(x), 2, dim=-1)
    z = reparameterize(mu, logvar, eps)
    x_logits = decoder(z)
    return x_logits, mu, logvar, z


def vae_generate(decoder, eps):
    return decoder(eps)


def pathwise_grad(f, mu, sigma, eps):
    # chain rule by hand: dz_s/dmu = 1 and dz_s/dsigma = eps_s, so only grad_z f is needed
    z = torch.addcmul(mu.detach(), sigma.detach(), eps).requires_grad_(True)
    with torch.enable_grad():
        (grad_z,) = torch.autograd.grad(f(z).sum(), z)      # (S, D): row s is grad f(z_s)
    grad_mu = grad_z.mean(dim=0)
    grad_sigma = (grad_z * eps).mean(dim=0)
    return grad_mu, grad_sigma


def score_function_grad(f, logits, samples):
    K = logits.shape[-1]
    probs = torch.softmax(logits.detach(), dim=-1)
    score = F.one_hot(samples, K).to(logits.dtype) - probs        # (S, K)
    values = torch.as_tensor(f(samples)).detach().to(logits.dtype)  # (S,)
    return (values[:, None] * score).mean(dim=0)


def bernoulli_log_likelihood(x, x_logits):
    dist = Bernoulli(logits=x_logits, validate_args=False)
    return dist.log_prob(x).flatten(start_dim=1).sum(dim=-1)


def gaussian_kl(mu, logvar):
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return kl_divergence(q, p).sum(dim=-1)


def elbo(x, x_logits, mu, logvar):
    term1 = bernoulli_log_likelihood(x, x_logits)
    term2 = gaussian_kl(mu, logvar)
    return (term1 - term2).mean()


def reparameterize(mu, logvar, eps):
    return torch.addcmul(mu, torch.exp(logvar / 2), eps)


def categorical_elbo(log_px_given_z, q_logits, prior_logits):
    q = Categorical(logits=q_logits)
    prior = Categorical(logits=prior_logits.expand_as(q_logits))
    expected = (q.probs * log_px_given_z).sum(dim=-1)
    return (expected - kl_divergence(q, prior)).mean()
