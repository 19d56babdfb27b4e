"""Part 5 — GAN losses from logits, torch (held-out corpus, style: F.logsigmoid).

log sigmoid(l) and log(1 - sigmoid(l)) = log sigmoid(-l) are both computed stably.
"""

import torch.nn.functional as F


def discriminator_loss(real_logits, fake_logits):
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()


def generator_loss_saturating(fake_logits):
    return F.logsigmoid(-fake_logits).mean()


def generator_loss_nonsaturating(fake_logits):
    return -F.logsigmoid(fake_logits).mean()
