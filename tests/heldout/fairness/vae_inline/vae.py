"""Part 5 — auto-encoders, VAEs and gradient estimators, torch (held-out corpus, style: closed forms).

vae_forward calls reparameterize, elbo calls bernoulli_log_likelihood and gaussian_kl.
"""

import torch
import torch.nn.functional as F


def ae_forward(x, encoder, decoder):
    return decoder(encoder(x))


def vae_forward(x, encoder, decoder, eps):
    stats = encoder(x)
    d = stats.shape[1] // 2
    mu, logvar = stats[:, :d], stats[:, d:]
    z = mu + torch.exp(logvar / 2) * eps            # inlined reparameterisation
    return decoder(z), mu, logvar, z


def vae_generate(decoder, eps):
    return decoder(eps)


def pathwise_grad(f, mu, sigma, eps):
    with torch.enable_grad():
        mu_ = mu.detach().clone().requires_grad_(True)
        sigma_ = sigma.detach().clone().requires_grad_(True)
        z = mu_ + sigma_ * eps
        objective = f(z).mean()
        grad_mu, grad_sigma = torch.autograd.grad(objective, (mu_, sigma_))
    return grad_mu, grad_sigma


def score_function_grad(f, logits, samples):
    with torch.enable_grad():
        theta = logits.detach().clone().requires_grad_(True)
        log_q = torch.log_softmax(theta, dim=-1)[samples]
        weights = f(samples).detach().to(theta.dtype)
        surrogate = (weights * log_q).mean()
        (grad,) = torch.autograd.grad(surrogate, theta)
    return grad


def bernoulli_log_likelihood(x, x_logits):
    per_pixel = x * F.logsigmoid(x_logits) + (1 - x) * F.logsigmoid(-x_logits)
    return per_pixel.reshape(per_pixel.shape[0], -1).sum(dim=1)


def gaussian_kl(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu ** 2 - torch.exp(logvar), dim=1)


def elbo(x, x_logits, mu, logvar):
    rec = -F.binary_cross_entropy_with_logits(x_logits, x, reduction="none")
    rec = rec.reshape(rec.shape[0], -1).sum(dim=1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)   # inlined closed form
    return (rec - kl).mean()


def reparameterize(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def categorical_elbo(log_px_given_z, q_logits, prior_logits):
    log_q = torch.log_softmax(q_logits, dim=-1)
    log_p = torch.log_softmax(prior_logits, dim=-1)
    q = torch.exp(log_q)
    reconstruction = torch.sum(q * log_px_given_z, dim=-1)
    gap = torch.where(q > 0, log_q - log_p, torch.zeros_like(log_q))   # 0 log 0 = 0
    kl = torch.sum(q * gap, dim=-1)
    return torch.mean(reconstruction - kl)
