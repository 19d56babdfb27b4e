"""Part 5 — auto-encoders, variational auto-encoders and their gradients (torch).

This module is written with PyTorch: every input and every output is a torch tensor, and what
you compute must stay differentiable, because the grader back-propagates through your results
and compares the gradients with autograd on its own PyTorch reference.

Conventions for every function here:
- Tensors and the modules passed in (`encoder`, `decoder`) are float64, batch first: x is (B, ...)
  and a latent code is (B, D).
- Build any constant with a `*_like` factory (`torch.zeros_like(x)`, `torch.full_like(...)`) so
  that it has the dtype and device of the data.
- Never read global random state (no `torch.randn` in here): the noise you need is an argument,
  `eps` for Gaussian noise or `samples` for draws of a discrete variable.
- Never modify an input tensor in place.
- Decoders return logits, not probabilities: a Bernoulli pixel with logit l has probability
  sigmoid(l).
"""

import torch
import torch.nn.functional as F


def ae_forward(x, encoder, decoder):
    """Q5.1 — a plain auto-encoder: reconstruct x through a deterministic code.

    Args:
        x: (B, ...) float64 inputs.
        encoder: module mapping x to a code of shape (B, D).
        decoder: module mapping a code of shape (B, D) back to reconstruction logits.

    Returns:
        decoder(encoder(x)): the reconstruction logits, same shape as the decoder's output.
    """
    ### BEGIN SOLUTION
    return decoder(encoder(x))
    ### END SOLUTION


def vae_forward(x, encoder, decoder, eps):
    """Q5.1 — a VAE forward pass: encode to a Gaussian, draw z from it, decode z.

    The encoder does not output a code but the parameters of q(z|x) = N(mu, diag(exp(logvar))):
    its output has shape (B, 2D), the first D columns are mu and the last D are logvar. One z per
    example is drawn with the reparameterisation trick (see `reparameterize`) from the given
    noise.

    Args:
        x: (B, ...) float64 inputs.
        encoder: module mapping x to (B, 2D) = [mu | logvar].
        decoder: module mapping z of shape (B, D) to reconstruction logits.
        eps: (B, D) standard normal noise.

    Returns:
        (x_logits, mu, logvar, z): the decoder's output on z, then mu, logvar and z, each (B, D).
    """
    ### BEGIN SOLUTION
    stats = encoder(x)
    latent_dim = stats.shape[-1] // 2
    mu, logvar = stats[:, :latent_dim], stats[:, latent_dim:]
    z = reparameterize(mu, logvar, eps)
    return decoder(z), mu, logvar, z
    ### END SOLUTION


def vae_generate(decoder, eps):
    """Q5.1 — generate with a trained VAE: decode samples of the prior p(z) = N(0, I).

    Args:
        decoder: module mapping z of shape (N, D) to logits.
        eps: (N, D) samples of the prior.

    Returns:
        decoder(eps): the logits of the N generated examples.
    """
    ### BEGIN SOLUTION
    return decoder(eps)
    ### END SOLUTION


def pathwise_grad(f, mu, sigma, eps):
    """Q5.2 — pathwise (reparameterisation) estimate of the gradient of E[f(z)], z ~ N(mu, sigma²).

    Writing z = mu + sigma * eps with eps ~ N(0, I) moves the randomness out of the parameters,
    so the gradient can go through f itself: this needs f differentiable and z continuous.

    Args:
        f: callable mapping a (S, D) batch of z to (S,) values, differentiable with torch.
        mu: (D,) mean.
        sigma: (D,) standard deviation.
        eps: (S, D) standard normal noise; sample s is z_s = mu + sigma * eps[s].

    Returns:
        (grad_mu, grad_sigma), each (D,): the gradient of (1/S) sum_s f(z_s) with respect to mu
        and to sigma. The caller's tensors are left untouched: no `.grad` is set on mu or sigma.
    """
    ### BEGIN SOLUTION
    # Leaf copies: the gradient is computed for them, never accumulated into the caller's tensors.
    mu_leaf = mu.detach().requires_grad_(True)
    sigma_leaf = sigma.detach().requires_grad_(True)
    with torch.enable_grad():
        z = mu_leaf + sigma_leaf * eps.detach()
        grad_mu, grad_sigma = torch.autograd.grad(f(z).mean(), (mu_leaf, sigma_leaf))
    return grad_mu, grad_sigma
    ### END SOLUTION


def score_function_grad(f, logits, samples):
    """Q5.2 — score-function (REINFORCE) estimate of the gradient of E[f(z)], z ~ Categorical.

    Only log q is differentiated, never f: this works for a discrete z, where z = g(params,
    noise) cannot be differentiated.

    Args:
        f: callable mapping (S,) int64 category indices to (S,) values; the values are constants
            (no gradient goes through f).
        logits: (K,) unnormalised logits of q(z) = softmax(logits).
        samples: (S,) int64 draws z_s from q.

    Returns:
        (K,) tensor: (1/S) sum_s f(z_s) * grad_logits log softmax(logits)[z_s], with no baseline.
    """
    ### BEGIN SOLUTION
    logits_leaf = logits.detach().requires_grad_(True)
    values = f(samples).detach().to(logits.dtype)
    with torch.enable_grad():
        log_q = torch.log_softmax(logits_leaf, dim=-1)[samples]
        # A surrogate whose gradient is the estimator: f enters as a fixed weight.
        (grad,) = torch.autograd.grad((values * log_q).mean(), logits_leaf)
    return grad
    ### END SOLUTION


def bernoulli_log_likelihood(x, x_logits):
    """Q5.4 — reconstruction term: log p(x|z) for Bernoulli pixels given by logits.

    For one pixel, log p = x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)). It must be exact and
    finite for logits as large as ±100, where sigmoid(l) rounds to 0 or 1: never take the log of
    a sigmoid, use a stable form (torch.nn.functional.logsigmoid, softplus).

    Args:
        x: (B, ...) targets in [0, 1].
        x_logits: logits of the same shape as x.

    Returns:
        (B,) tensor: the log-likelihood of each example, summed over every non-batch dimension.
    """
    ### BEGIN SOLUTION
    # log(1 - sigmoid(l)) = log sigmoid(-l)
    log_p = x * F.logsigmoid(x_logits) + (1 - x) * F.logsigmoid(-x_logits)
    return log_p.reshape(x.shape[0], -1).sum(dim=1)
    ### END SOLUTION


def gaussian_kl(mu, logvar):
    """Q5.5 — KL(N(mu, diag(exp(logvar))) || N(0, I)) in closed form.

    Args:
        mu: (B, D) means of q(z|x).
        logvar: (B, D) log-variances of q(z|x).

    Returns:
        (B,) tensor: the KL divergence of each example, summed over the D latent dimensions.
    """
    ### BEGIN SOLUTION
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(dim=-1)
    ### END SOLUTION


def elbo(x, x_logits, mu, logvar):
    """Q5.4 — the evidence lower bound of a Gaussian-latent, Bernoulli-pixel VAE.

    Term 1 is the reconstruction log-likelihood log p(x|z) (see `bernoulli_log_likelihood`),
    with z the one sample behind x_logits; term 2 is KL(q(z|x) || N(0, I)) (see `gaussian_kl`).
    You may call those two functions.

    Args:
        x: (B, ...) targets in [0, 1].
        x_logits: decoder logits, same shape as x.
        mu: (B, D) means of q(z|x).
        logvar: (B, D) log-variances of q(z|x).

    Returns:
        0-d tensor: the mean over the batch of (term 1 - term 2), to be maximised.
    """
    ### BEGIN SOLUTION
    return (bernoulli_log_likelihood(x, x_logits) - gaussian_kl(mu, logvar)).mean()
    ### END SOLUTION


def reparameterize(mu, logvar, eps):
    """Q5.6 — the reparameterisation trick: z = mu + exp(logvar / 2) * eps.

    The noise is drawn outside, so z is a differentiable function of mu and logvar.

    Args:
        mu: (B, D) means.
        logvar: (B, D) log-variances.
        eps: (B, D) standard normal noise.

    Returns:
        (B, D) tensor z, through which gradients flow to mu and logvar.
    """
    ### BEGIN SOLUTION
    return mu + torch.exp(0.5 * logvar) * eps
    ### END SOLUTION


def categorical_elbo(log_px_given_z, q_logits, prior_logits):
    """Q5.7 — the exact ELBO of a categorical latent with K values, by enumeration.

    With finitely many values of z, the expectation is a finite sum and no sampling is needed:
        ELBO(x) = sum_k q(k|x) log p(x|k) - KL(q(.|x) || p),
        KL(q || p) = sum_k q(k) (log q(k) - log p(k)).
    Logits are unnormalised: normalise them with log_softmax. The KL follows
    torch.distributions.kl_divergence between two Categorical distributions: a term where
    q(k) = 0 counts 0 (0 log 0 = 0), even when p(k) = 0 too; the KL is +inf when q puts mass on
    a value the prior excludes (prior logit -inf). Gradients must stay finite wherever torch's are.

    Args:
        log_px_given_z: (B, K) log p(x_b | z = k) for every example and every value k.
        q_logits: (B, K) logits of q(z|x_b).
        prior_logits: (K,) logits of the prior p(z), shared by the batch, or (B, K).

    Returns:
        0-d tensor: the mean of the ELBO over the batch.
    """
    ### BEGIN SOLUTION
    log_q = torch.log_softmax(q_logits, dim=-1)
    log_prior = torch.log_softmax(prior_logits, dim=-1)
    q = torch.softmax(q_logits, dim=-1)
    expected_log_lik = (q * log_px_given_z).sum(dim=-1)
    # torch's conventions: 0 where q(k) = 0, +inf where only the prior is 0. The masked terms
    # hold -inf - (-inf) or 0 * inf; where() keeps them out of the gradient.
    q_zero = q == 0
    prior_zero = (torch.softmax(prior_logits, dim=-1) == 0).expand_as(q)
    log_ratio = torch.where(q_zero | prior_zero, torch.zeros_like(log_q), log_q - log_prior)
    kl_terms = torch.where(prior_zero & ~q_zero, torch.full_like(q, float("inf")), q * log_ratio)
    return (expected_log_lik - kl_terms.sum(dim=-1)).mean()
    ### END SOLUTION
