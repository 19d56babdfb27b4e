"""Part 5 (GAN losses) computed in float32 inside with binary_cross_entropy_with_logits and
softplus, results cast back to float64."""
import torch
import torch.nn.functional as F


def discriminator_loss(real_logits, fake_logits):
    r, f = real_logits.float(), fake_logits.float()
    loss = (F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
            + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)))
    return loss.double()


def generator_loss_saturating(fake_logits):
    f = fake_logits.float()
    return (-F.softplus(f)).mean().double()


def generator_loss_nonsaturating(fake_logits):
    f = fake_logits.float()
    return F.softplus(-f).mean().double()
