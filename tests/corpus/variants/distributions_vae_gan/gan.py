"""Part 5 (GAN losses) with a hand-written stable log-sigmoid: min(l, 0) − log1p(exp(−|l|))."""
import torch


def _log_sigmoid(l):
    # stable by hand: min(l, 0) - log1p(exp(-|l|))
    return torch.minimum(l, torch.zeros_like(l)) - torch.log1p(torch.exp(-l.abs()))


def discriminator_loss(real_logits, fake_logits):
    return -(_log_sigmoid(real_logits).sum() / real_logits.numel()) - _log_sigmoid(-fake_logits).mean()


def generator_loss_saturating(fake_logits):
    return _log_sigmoid(-fake_logits).mean()


def generator_loss_nonsaturating(fake_logits):
    return -_log_sigmoid(fake_logits).mean()
