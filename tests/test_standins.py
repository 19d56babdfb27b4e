"""The kit's stand-ins are right (compared with torch), and no child ever holds one: the grader
answers a child's stand-in requests."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import GOOD, make_submission, make_suites

from autograder import grading, standins
from autograder.isolation.sandbox import Limits

RNG = np.random.default_rng(20240607)
T = torch.from_numpy


def reference(name: str, *args):
    """torch's value for the stand-in `name` on numpy inputs."""
    x = [T(a) if isinstance(a, np.ndarray) else a for a in args]
    return {
        "mlp.linear": lambda: F.linear(*x),
        "mlp.tanh": lambda: torch.tanh(x[0]),
        "mlp.log_softmax": lambda: torch.log_softmax(x[0], dim=-1),
        "mlp.mlp_forward": lambda: F.linear(torch.tanh(F.linear(x[0], T(args[1]["W1"]), T(args[1]["b1"]))),
                                            T(args[1]["W2"]), T(args[1]["b2"])),
        "mlp.nll_loss": lambda: F.cross_entropy(x[0], x[1]),
        "training.sigmoid": lambda: torch.sigmoid(x[0]),
        "training.sigmoid_grad": lambda: torch.sigmoid(x[0]) * (1 - torch.sigmoid(x[0])),
        "training.relu": lambda: torch.relu(x[0]),
        "training.relu_grad": lambda: (x[0] > 0).double(),
        "training.leaky_relu": lambda: F.leaky_relu(x[0], 0.01),
        "training.leaky_relu_grad": lambda: torch.where(x[0] > 0, x[0].new_tensor(1.0),
                                                        x[0].new_tensor(0.01)),
        "cnn.conv2d": lambda: F.conv2d(x[0], x[1], x[2], stride=args[3], padding=args[4]),
    }[name]().numpy()


CASES = {
    "mlp.linear": (RNG.normal(size=(4, 3)), RNG.normal(size=(5, 3)), RNG.normal(size=5)),
    "mlp.tanh": (RNG.normal(0, 3, (3, 4)),),
    "mlp.log_softmax": (np.array([[1e4, -1e4, 0.0], [1.0, 2.0, 3.0]]),),
    "mlp.mlp_forward": (RNG.normal(size=(4, 3)), {"W1": RNG.normal(size=(5, 3)), "b1": RNG.normal(size=5),
                                                  "W2": RNG.normal(size=(2, 5)), "b2": RNG.normal(size=2)}),
    "mlp.nll_loss": (RNG.normal(0, 3, (6, 4)), np.array([0, 3, 1, 2, 3, 0])),
    **{f"training.{f}": (np.array([-1e4, -3.0, 0.0, 2.0, 1e4]),)
       for f in ("sigmoid", "sigmoid_grad", "relu", "relu_grad", "leaky_relu", "leaky_relu_grad")},
    "cnn.conv2d": (RNG.normal(size=(2, 3, 7, 6)), RNG.normal(size=(4, 3, 3, 2)), RNG.normal(size=4), 2, 1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_numpy_stand_in_matches_torch(name):
    got = standins.answer(name, "value", [list(CASES[name]), {}])
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), reference(name, *CASES[name]),
                               rtol=1e-10, atol=1e-12)


def test_the_other_stand_ins_match_torch():
    assert standins.answer("cnn.conv_output_shape", "value", [[9, 7, 3, 2, 1], {}]) == tuple(
        F.conv2d(torch.zeros(1, 1, 9, 7), torch.zeros(1, 1, 3, 3), stride=2, padding=1).shape[2:])
    mu, logvar, eps = (T(RNG.normal(size=(4, 3))) for _ in range(3))
    q, p = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)), torch.distributions.Normal(0, 1)
    torch.testing.assert_close(standins.answer("vae.gaussian_kl", "value", [[mu, logvar], {}]),
                               torch.distributions.kl_divergence(q, p).sum(-1))
    torch.testing.assert_close(standins.answer("vae.reparameterize", "value", [[mu, logvar, eps], {}]),
                               q.loc + q.scale * eps)


def test_a_differentiable_stand_in_gives_torchs_vector_jacobian_product():
    mu, logvar = (T(RNG.normal(size=(4, 3))).requires_grad_(True) for _ in range(2))
    weights = T(RNG.normal(size=4))
    expected = torch.autograd.grad(
        (weights * torch.distributions.kl_divergence(
            torch.distributions.Normal(mu, torch.exp(0.5 * logvar)),
            torch.distributions.Normal(0, 1)).sum(-1)).sum(), [mu, logvar])
    got = standins.answer("vae.gaussian_kl", "vjp", [[mu.detach(), logvar.detach()], weights])
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)


def test_the_order_stand_in_lists_each_node_once_after_its_parents():
    parents = [[1, 2, 4], [3, 4], [3, 3], [], []]      # node 0 is out
    order = standins.answer("autodiff.topological_order", "order", parents)
    assert sorted(order) == [0, 1, 2, 3, 4] and order[-1] == 0
    assert all(order.index(p) < order.index(n) for n in order for p in parents[n])


@pytest.mark.parametrize("name, payload", [
    ("cnn.conv2d", [[np.zeros((64, 64, 64, 64)), np.zeros((64, 64, 9, 9))], {}]),
    ("mlp.linear", [[np.zeros((1200, 1000)), np.zeros((3, 1000)), np.zeros(3)], {}]),
    ("autodiff.topological_order", [[1], [7]]),
])
def test_a_request_no_test_needs_is_refused(name, payload):
    kind = "order" if name.startswith("autodiff") else "value"
    with pytest.raises(ValueError):
        standins.answer(name, kind, payload)


PEEK_SUITE = """
import numpy as np
import pytest
from autograder.checks import assert_close

@pytest.mark.question("1.1")
def test_own_question(submission):
    assert_close(submission.call("mlp", "peek"), 0.0, check="peek()", inputs={})

@pytest.mark.question("1.3")
def test_other_question(submission):
    assert_close(submission.call("mlp", "peek"), 1.0, check="peek()", inputs={})
"""
PEEK = """
import gc, sys, types

def linear(x, W, b):
    return x

def peek():
    \"\"\"1.0 when a correct linear is reachable from here: code of the kit's stand-ins, or a
    replaced linear that computes x W^T + b.\"\"\"
    import numpy as np
    x, W, b = np.ones((1, 2)), np.ones((3, 2)), np.arange(3.0)
    seen = [o for o in gc.get_objects() if isinstance(o, types.FunctionType)
            and "standins" in o.__code__.co_filename]
    stood_in = sys.modules[__name__].linear(x, W, b)
    return float(bool(seen)) + float(np.shape(stood_in) == (1, 3))
"""


def test_no_child_holds_the_kits_stand_ins(tmp_path):
    """A replaced linear computes the right values in Q1.3 (the grader answers), but no child,
    of any question, holds the kit's code: a student cannot pass it off as their own."""
    (score,) = grading.grade([make_submission(tmp_path, "peeker", GOOD, mlp=PEEK)],
                             suites=make_suites(tmp_path, PEEK_SUITE), limits=Limits(call_seconds=5))
    assert {q.id: q.points for q in score.questions if q.id in ("1.1", "1.3")} == {"1.1": 2, "1.3": 2}
