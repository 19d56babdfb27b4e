"""Part 5 — the losses of a generative adversarial network, from logits (torch).

The discriminator D ends with a sigmoid: for an input with logit l, D says "real" with
probability sigmoid(l). Every loss here takes the logits, never the probabilities, because
sigmoid(l) rounds to exactly 0 or 1 once |l| is a few tens and log(0) is -inf: work with
log sigmoid(l) (torch.nn.functional.logsigmoid) and the identity 1 - sigmoid(l) = sigmoid(-l).

Conventions for every function here:
- Inputs are float64 torch tensors of logits, any shape; a loss is the mean over all entries.
- Losses are 0-d tensors, differentiable with autograd, finite and with finite gradients for
  logits as large as ±100.
- Never modify an input tensor in place.
"""

import torch.nn.functional as F


def discriminator_loss(real_logits, fake_logits):
    """Q5.3 — binary cross-entropy of the discriminator: real examples are 1, generated are 0.

    Args:
        real_logits: D's logits on real examples, any shape.
        fake_logits: D's logits on generated examples, any shape.

    Returns:
        0-d tensor: mean BCE(real_logits, target 1) + mean BCE(fake_logits, target 0), that is
        -mean log sigmoid(real) - mean log(1 - sigmoid(fake)).
    """
    ### BEGIN SOLUTION
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()
    ### END SOLUTION


def generator_loss_saturating(fake_logits):
    """Q5.3 — the minimax generator loss: the generator minimises mean log(1 - sigmoid(l)).

    This is the discriminator's loss on generated examples, negated. Its gradient vanishes when
    D confidently rejects the fakes (very negative logits), which is when G most needs one.

    Args:
        fake_logits: D's logits on generated examples, any shape.

    Returns:
        0-d tensor: mean log(1 - sigmoid(fake_logits)).
    """
    ### BEGIN SOLUTION
    return F.logsigmoid(-fake_logits).mean()
    ### END SOLUTION


def generator_loss_nonsaturating(fake_logits):
    """Q5.3 — the non-saturating generator loss: minimise -mean log sigmoid(l).

    The generator instead maximises the probability that D labels its examples real; the
    gradient stays large when D rejects the fakes.

    Args:
        fake_logits: D's logits on generated examples, any shape.

    Returns:
        0-d tensor: -mean log sigmoid(fake_logits).
    """
    ### BEGIN SOLUTION
    return -F.logsigmoid(fake_logits).mean()
    ### END SOLUTION
