"""Part 5 written another way: the ELBO inline with binary_cross_entropy_with_logits and the
KL's textbook form, reparameterize by torch.addcmul and sqrt(exp(logvar)), the categorical KL
letting +inf arise where only the prior is 0."""
import torch
import torch.nn.functional as F


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
    rec = -F.binary_cross_entropy_with_logits(x_logits, x, reduction='none').flatten(1).sum(1)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
    return torch.mean(rec - kl)


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
    return torch.addcmul(mu, torch.sqrt(torch.exp(logvar)), eps)


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
    log_q = torch.log_softmax(q_logits, dim=-1)
    log_prior = torch.log_softmax(prior_logits, dim=-1)
    q = torch.softmax(q_logits, dim=-1)
    expected_log_lik = (q * log_px_given_z).sum(dim=-1)
    # torch's conventions: 0 where q(k) = 0, +inf where only the prior is 0. The masked terms
    # hold -inf - (-inf) or 0 * inf; where() keeps them out of the gradient.
    q_zero = q == 0
    log_ratio = torch.where(q_zero, torch.zeros_like(log_q), log_q - log_prior)
    kl_terms = q * log_ratio   # +inf arises naturally where only the prior is 0
    return (expected_log_lik - kl_terms.sum(dim=-1)).mean()

