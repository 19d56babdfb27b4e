"""Part 5 — the losses of a generative adversarial network, from logits (torch).

Style choices of this submission (all within the contract):
- Everything goes through one helper, softplus(l) = log(1 + e^l) = torch.logaddexp(0, l),
  exact and overflow-free at any |l|, with the identities
  −log σ(l) = softplus(−l) and −log(1 − σ(l)) = softplus(l).
- Constants (the 0 of logaddexp) are built with zeros_like; inputs are never modified.
"""

import torch
import torch.nn.functional as F  # noqa: F401  (kept from the skeleton)


def _softplus(l):
    return torch.logaddexp(torch.zeros_like(l), l)


def discriminator_loss(real_logits, fake_logits):
    """Q5.3 — mean BCE(real, 1) + mean BCE(fake, 0)
    = −mean log σ(real) − mean log(1 − σ(fake)).

    Returns:
        0-d tensor.
    """
    return _softplus(-real_logits).mean() + _softplus(fake_logits).mean()


def generator_loss_saturating(fake_logits):
    """Q5.3 — the minimax generator loss, mean log(1 − σ(l)) = −mean softplus(l).

    Returns:
        0-d tensor.
    """
    return -_softplus(fake_logits).mean()


def generator_loss_nonsaturating(fake_logits):
    """Q5.3 — the non-saturating generator loss, −mean log σ(l) = mean softplus(−l).

    Returns:
        0-d tensor.
    """
    return _softplus(-fake_logits).mean()
