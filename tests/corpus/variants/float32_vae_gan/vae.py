"""Part 5 (VAE) computed in float32 inside, results cast back to float64."""
import torch
import torch.nn.functional as F

f32 = lambda t: t.to(torch.float32)
f64 = lambda t: t.to(torch.float64)


def ae_forward(x, encoder, decoder):
    code = encoder(x)
    return decoder(code)


def vae_forward(x, encoder, decoder, eps):
    mu, logvar = encoder(x).chunk(2, dim=1)
    z = reparameterize(mu, logvar, eps)
    return decoder(z), mu, logvar, z


def vae_generate(decoder, eps):
    return decoder(eps.clone())


def pathwise_grad(f, mu, sigma, eps):
    m = f32(mu).detach().requires_grad_(True)
    s = f32(sigma).detach().requires_grad_(True)
    z = m + s * f32(eps)
    gm, gs = torch.autograd.grad(f(f64(z)).to(torch.float32).mean(), (m, s))
    return f64(gm), f64(gs)


def score_function_grad(f, logits, samples):
    p = torch.softmax(f32(logits.detach()), -1)
    onehot = F.one_hot(samples, logits.shape[-1]).to(torch.float32)
    vals = f32(f(samples).detach())
    return f64((vals[:, None] * (onehot - p)).mean(0))


def bernoulli_log_likelihood(x, x_logits):
    l = f32(x_logits)
    out = -F.binary_cross_entropy_with_logits(l, f32(x), reduction="none")
    return f64(out.flatten(1).sum(1))


def gaussian_kl(mu, logvar):
    m, lv = f32(mu), f32(logvar)
    return f64(0.5 * torch.sum(m * m + torch.exp(lv) - lv - 1, dim=1))


def elbo(x, x_logits, mu, logvar):
    return torch.mean(bernoulli_log_likelihood(x, x_logits) - gaussian_kl(mu, logvar))


def reparameterize(mu, logvar, eps):
    return f64(f32(mu) + torch.exp(f32(logvar) / 2) * f32(eps))


def categorical_elbo(log_px_given_z, q_logits, prior_logits):
    lq = torch.log_softmax(f32(q_logits), -1)
    lp = torch.log_softmax(f32(prior_logits), -1).expand_as(lq)
    q = lq.exp()
    rec = torch.where(q > 0, q * f32(log_px_given_z), torch.zeros_like(q)).sum(-1)
    safe = torch.where((q > 0) & (lp > -float("inf")), lq - lp, torch.zeros_like(q))
    kl = torch.where((q > 0) & (lp == -float("inf")), torch.full_like(q, float("inf")), q * safe)
    return f64((rec - kl.sum(-1)).mean())
