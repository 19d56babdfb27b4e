"""Public checks for gan.py (Part 5): the GAN losses against F.binary_cross_entropy_with_logits.

Run from your folder: `pytest tests/test_gan.py` (or `dlexam check 5`). Passing these checks
does not guarantee full marks: the grader uses other inputs and more checks.
"""
import pytest
import torch
import torch.nn.functional as F

import gan

DT = torch.float64   # every tensor here is float64


def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def close(got, expected, what):
    assert isinstance(got, torch.Tensor), \
        f"{what}: expected a torch tensor, got {type(got).__name__}"
    assert got.shape == expected.shape, \
        f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    assert torch.allclose(got.detach().double(), expected.detach(), rtol=1e-4, atol=1e-6), \
        f"{what}: expected {expected}, got {got}"


def logits(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(7, generator=g, dtype=DT) * 3, torch.randn(2, 3, generator=g, dtype=DT) * 3


@pytest.mark.question("5.3")
@pytest.mark.parametrize("seed", [1, 2])
def test_discriminator_loss(seed):
    real, fake = logits(seed)
    close(gan.discriminator_loss(real, fake), bce(real, 1.0) + bce(fake, 0.0), "discriminator_loss")


@pytest.mark.question("5.3")
@pytest.mark.parametrize("seed", [3, 4])
def test_generator_losses(seed):
    _, fake = logits(seed)
    close(gan.generator_loss_saturating(fake), -bce(fake, 0.0), "generator_loss_saturating")
    close(gan.generator_loss_nonsaturating(fake), bce(fake, 1.0), "generator_loss_nonsaturating")


@pytest.mark.question("5.3")
def test_extreme_logits_finite():
    real = torch.tensor([100.0, -100.0, 3.0], dtype=DT, requires_grad=True)
    fake = torch.tensor([[100.0, -100.0], [0.5, 100.0]], dtype=DT, requires_grad=True)
    for name, loss, want in [
        ("discriminator_loss", gan.discriminator_loss(real, fake), bce(real, 1.0) + bce(fake, 0.0)),
        ("generator_loss_saturating", gan.generator_loss_saturating(fake), -bce(fake, 0.0)),
        ("generator_loss_nonsaturating", gan.generator_loss_nonsaturating(fake), bce(fake, 1.0)),
    ]:
        close(loss, want, f"{name} at logits ±100")
        grads = torch.autograd.grad(loss, [real, fake], allow_unused=True)
        for g in grads:
            assert g is None or torch.isfinite(g).all(), f"{name}: non-finite gradient at ±100"


@pytest.mark.question("5.3")
def test_saturating_gradient_vanishes_when_fakes_rejected():
    fake = torch.linspace(-30, -20, 8, dtype=DT).requires_grad_()
    (g_sat,) = torch.autograd.grad(gan.generator_loss_saturating(fake), fake)
    (g_non,) = torch.autograd.grad(gan.generator_loss_nonsaturating(fake), fake)
    assert g_sat.abs().max() < 1e-8, "the saturating loss's gradient should vanish here"
    assert (g_non.abs() * fake.numel() > 0.99).all(), \
        "the non-saturating loss's gradient should not vanish here"
