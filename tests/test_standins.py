"""The kit's stand-ins are right (compared with torch), and a child never holds a correct version
of its own question's functions."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import GOOD, make_submission, make_suites

from autograder import grading, standins
from autograder.isolation.sandbox import Limits
from autograder.probes import substitution

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
    (stand_in,) = substitution.compiled(standins.sources([name])).values()
    got = np.asarray(stand_in(*CASES[name]), dtype=np.float64)
    np.testing.assert_allclose(got, reference(name, *CASES[name]), rtol=1e-10, atol=1e-12)


def test_the_other_stand_ins_match_torch():
    compiled = substitution.compiled(standins.sources(standins.STAND_INS))
    assert compiled["cnn.conv_output_shape"](9, 7, 3, 2, 1) == tuple(
        F.conv2d(torch.zeros(1, 1, 9, 7), torch.zeros(1, 1, 3, 3), stride=2, padding=1).shape[2:])
    mu, logvar, eps = (T(RNG.normal(size=(4, 3))) for _ in range(3))
    q, p = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)), torch.distributions.Normal(0, 1)
    torch.testing.assert_close(compiled["vae.gaussian_kl"](mu, logvar),
                               torch.distributions.kl_divergence(q, p).sum(-1))
    torch.testing.assert_close(compiled["vae.reparameterize"](mu, logvar, eps), q.loc + q.scale * eps)


class Node:
    def __init__(self, *parents):
        self.parents = parents


def test_the_topological_order_stand_in_lists_each_node_once_after_its_parents():
    a, b = Node(), Node()
    c, d = Node(a, b), Node(a, a)
    out = Node(c, d, b)
    order = substitution.compiled(standins.sources(["autodiff.topological_order"]))[
        "autodiff.topological_order"](out)
    assert len(order) == len(set(map(id, order))) == 5 and order[-1] is out
    assert all(order.index(p) < order.index(n) for n in order for p in n.parents)


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
import gc, types

def peek():
    return float(any(isinstance(o, types.FunctionType) and o.__name__ == "linear"
                     and o.__code__.co_filename.startswith("<stand-in")
                     for o in gc.get_objects()))
"""


def test_a_child_holds_no_stand_in_of_its_own_questions_functions(tmp_path):
    """The kit's correct linear is in Q1.3's children (mlp_backward may call linear), never in
    Q1.1's, where a student could otherwise return it as their own."""
    (score,) = grading.grade([make_submission(tmp_path, "peeker", GOOD, mlp=PEEK)],
                             suites=make_suites(tmp_path, PEEK_SUITE), limits=Limits(call_seconds=5))
    assert {q.id: q.points for q in score.questions if q.id in ("1.1", "1.3")} == {"1.1": 2, "1.3": 2}
