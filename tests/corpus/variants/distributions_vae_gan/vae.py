"""Part 5 (VAE) with loops, other formulas and torch.distributions (Normal, Categorical,
kl_divergence), in-place updates on its own copies."""
import torch
import torch.nn.functional as F
from torch.distributions import Normal, Categorical, kl_divergence


def ae_forward(x, encoder, decoder):
    return decoder.forward(encoder.forward(x))


def vae_forward(x, encoder, decoder, eps):
    h = encoder(x)
    d = h.shape[1] // 2
    mu = h.narrow(1, 0, d)
    logvar = h.narrow(1, d, d)
    z = Normal(mu, torch.exp(0.5 * logvar)).loc + torch.exp(0.5 * logvar) * eps
    return decoder(z), mu, logvar, z


def vae_generate(decoder, eps):
    return torch.stack([decoder(e[None])[0] for e in eps])


def pathwise_grad(f, mu, sigma, eps):
    # per-sample loop, caller's tensors get requires_grad on a clone only
    gm = torch.zeros_like(mu)
    gs = torch.zeros_like(sigma)
    for e in eps:
        m = mu.clone().detach().requires_grad_()
        s = sigma.clone().detach().requires_grad_()
        val = f((m + s * e)[None])[0]
        a, b = torch.autograd.grad(val, (m, s))
        gm += a
        gs += b
    return gm / len(eps), gs / len(eps)


def score_function_grad(f, logits, samples):
    total = torch.zeros_like(logits)
    for k in samples.tolist():
        l = logits.detach().clone().requires_grad_(True)
        lp = Categorical(logits=l).log_prob(torch.tensor(k))
        (g,) = torch.autograd.grad(lp, l)
        total += float(f(torch.tensor(k))) * g
    return total / len(samples)


def bernoulli_log_likelihood(x, x_logits):
    # x l - softplus(l)
    per = x * x_logits - F.softplus(x_logits)
    return per.sum(dim=tuple(range(1, x.dim())))


def gaussian_kl(mu, logvar):
    q = Normal(mu, (0.5 * logvar).exp())
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return kl_divergence(q, p).sum(-1)


def elbo(x, x_logits, mu, logvar):
    b = x.shape[0]
    rec = -F.binary_cross_entropy_with_logits(x_logits, x, reduction="sum") / b
    kl = 0.5 * torch.sum(mu.pow(2) + logvar.exp() - 1 - logvar) / b
    return rec - kl


def reparameterize(mu, logvar, eps):
    std = logvar.mul(0.5).exp()
    z = eps.clone()
    z.mul_(std)
    return z.add(mu)


def categorical_elbo(log_px_given_z, q_logits, prior_logits):
    B, K = q_logits.shape
    prior = prior_logits.expand(B, K)
    rows = []
    for b in range(B):
        lq = torch.log_softmax(q_logits[b], -1)
        lp = torch.log_softmax(prior[b], -1)
        total = 0
        for k in range(K):
            qk = lq[k].exp()
            if qk.item() == 0:
                continue
            total = total + qk * log_px_given_z[b, k]
            if lp[k].item() == float("-inf"):
                total = total - float("inf")
            else:
                total = total - qk * (lq[k] - lp[k])
        rows.append(total if torch.is_tensor(total) else torch.tensor(float(total), dtype=q_logits.dtype))
    return torch.stack(rows).mean()
