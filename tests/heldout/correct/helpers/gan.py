"""Part 5 — GAN losses from logits, torch (held-out corpus, style: softplus and BCE-with-logits).

-log sigmoid(l) = softplus(-l) and -log(1 - sigmoid(l)) = softplus(l).
"""

import torch
import torch.nn.functional as F


def _bce(logits, target_value):
    target = torch.full_like(logits, target_value)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="mean")


def discriminator_loss(real_logits, fake_logits):
    return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)


def generator_loss_saturating(fake_logits):
    return -torch.mean(F.softplus(fake_logits))


def generator_loss_nonsaturating(fake_logits):
    return torch.mean(F.softplus(-fake_logits))
