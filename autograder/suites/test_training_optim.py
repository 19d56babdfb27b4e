"""Q2.7–Q2.8 — minibatches, momentum and Adam, against torch.optim.

Every test reads: seeded inputs -> the reference (@reference: torch.optim's trajectories; for
minibatches the partition the contract defines) -> the student's result, through a probe (a
generator and an optimiser's state cannot cross the boundary) -> checks.* with the hints of
autograder/mistakes/training.py, each shown only when the student's result matches that
mistake's value. Every property of minibatches (a generator, a function of rng) is checked
only on calls whose batches pass the value checks, so a constant never collects it.

Bugs these checks catch, each named where it is caught:
- minibatches: the last, smaller batch dropped, or merged into the previous one; an empty
  batch at the end; np.array_split into the wrong number of parts; overlapping or missing
  indices (a new permutation per batch); float indices; a list returned instead of a
  generator; an endless generator; shuffle ignored (range order) or always applied
  (shuffle=False not in range order); only the batch order shuffled, or only within batches;
  np.random.* global state (same seed, different batches) or a fixed seed (different seeds,
  same order).
- momentum_step: dampening (buf = mu buf + (1 - mu) g); Nesterov; the state not carried over
  (plain SGD); the old buffer used for the step; the momentum on the gradient; params, grads or
  the state modified in place.
- adam_step: eps inside the square root; no square root; eps added before the bias correction
  (the paper's eps-hat form: visible with gradients of 1e-4); no bias correction, or only on
  m; the step counter not incremented, or starting at 0; beta1 and beta2 swapped; the
  betas/eps arguments ignored; params, grads or the state modified in place.
"""
import functools

import numpy as np
import pytest
import torch

from autograder.checks import as_array, assert_close, assert_true, case_rng
from autograder.mistakes import training as mistakes
from autograder.references import reference

MODULE = "training"


# ---------------------------------------------------------------------------------------------
# Q2.7 — minibatches: a partition, batch sizes, use of rng; never the exact permutation
# ---------------------------------------------------------------------------------------------

def describe_sizes(n: int, batch_size: int) -> str:
    """'10 batches of 10 and a last one of 3', '1 batch of 7', 'no batch' (n = 0)."""
    full, rest = divmod(n, batch_size)
    if not full:
        return f"1 batch of {rest}" if rest else "no batch"
    text = f"{full} batch{'es' if full > 1 else ''} of {batch_size}"
    return text + (f" and a last one of {rest}" if rest else "")


def shown(indices: list) -> str:
    return f"[{', '.join(map(str, indices[:6]))}{', ...' if len(indices) > 6 else ''}]"


def batches_of(submission, n: int, batch_size: int, shuffle: bool, seed: int):
    """(run, check): minibatches(n, batch_size, default_rng(seed), shuffle) run in the child
    (run["batches"]: the arrays it yielded, run["iterator"]: whether it returned an iterator),
    after checking its values: 1-D int batches, batch_size each and the remainder last, that
    partition range(n). Every test of Q2.7 goes through it."""
    cap = -(-n // batch_size) + 2
    run = submission.probe("run_minibatches", MODULE, "minibatches", seed, n, batch_size, shuffle,
                           cap, module=MODULE)
    check = f"minibatches(n={n}, batch_size={batch_size}, rng, shuffle={shuffle})"
    assert_true(run["exhausted"],
                f"{check}: the generator yielded more than {cap} batches; it must stop after "
                f"ceil(n / batch_size) = {-(-n // batch_size)} batches")
    batches = run["batches"]
    for i, batch in enumerate(batches):
        assert_true(batch.ndim == 1 and (batch.dtype.kind in "iu" or batch.size == 0),
                    f"{check}: batch {i} should be a 1-D array of int indices, got dtype "
                    f"{batch.dtype} and shape {batch.shape}")
    full, rest = divmod(n, batch_size)
    expected = [batch_size] * full + ([rest] if rest else [])
    assert_close(np.array([len(b) for b in batches], dtype=np.float64), expected,
                 check=f"{check}: the batch sizes, expected {describe_sizes(n, batch_size)}",
                 inputs={}, mistakes=mistakes.minibatches(n, batch_size, expected))
    order = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
    assert_true(np.array_equal(np.sort(order), np.arange(n)),
                f"{check}: the batches do not partition range({n}): {len(np.unique(order))} "
                f"distinct indices among the {len(order)} yielded, from {order.min(initial=0)} "
                f"to {order.max(initial=0)}")
    return run, check


PARTITION_CASES = [(103, 10, True), (100, 10, True), (7, 10, True), (50, 1, True), (64, 16, False),
                   (0, 4, True)]


@pytest.mark.question("2.7", weight=2)
@pytest.mark.parametrize("case", range(len(PARTITION_CASES)))
def test_minibatches_partition_range_n(submission, case):
    """Every index of range(n) exactly once; ceil(n / b) batches of b, the last holding the
    remainder (none when b divides n, no batch at all when n = 0). Fails: the last batch dropped
    or merged, an empty batch at the end, np.array_split, a new permutation per batch, float
    indices, an endless generator."""
    n, b, shuffle = PARTITION_CASES[case]
    batches_of(submission, n, b, shuffle, seed=7000 + case)


@pytest.mark.question("2.7", weight=1)
@pytest.mark.parametrize("case", range(2))
def test_minibatches_in_range_order_without_shuffle(submission, case):
    """shuffle=False: the batches of 0, 1, ..., n − 1 in order. Fails: shuffle always applied."""
    n, b = [(23, 5), (12, 4)][case]
    run, check = batches_of(submission, n, b, shuffle=False, seed=7100 + case)
    got = [batch.tolist() for batch in run["batches"]]
    expected = [list(range(start, min(start + b, n))) for start in range(0, n, b)]
    first = next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e), 0)
    assert_true(got == expected,
                f"{check}: batch {first} is {shown(got[first])}, expected "
                f"{shown(expected[first])}: with shuffle=False the batches follow range order "
                f"0, 1, ..., n - 1")


@pytest.mark.question("2.7", weight=1)
@pytest.mark.parametrize("seed", [7201, 7202])
def test_minibatches_shuffle_examples(submission, seed):
    """With shuffle=True (n = 100, b = 10: the properties are checked where batch_size divides n,
    so that a bug in the last batch costs the partition test, not these) the order is not range
    order, and the first batch is not one of the 10 aligned blocks {10k, ..., 10k + 9} of range
    order.

    For a uniform permutation, P(range order) = 1 / 100!, and P(the first batch's set is one
    of the 10 blocks) = 10 / C(100, 10) < 1e-12: a correct implementation fails with probability
    < 1e-9. Fails: shuffle ignored, only the order of the batches shuffled, only within batches
    (the first batch is then {0..9})."""
    n, b = 100, 10
    run, check = batches_of(submission, n, b, True, seed=seed)
    batches = run["batches"]
    assert_true(not np.array_equal(np.concatenate(batches), np.arange(n)),
                f"{check}: the batches come in range order although shuffle=True: the order "
                f"must be a random permutation drawn from rng")
    first = sorted(batches[0].tolist())
    assert_true(set(first) not in [set(range(s, s + b)) for s in range(0, n, b)],
                f"{check}: the first batch is {shown(first)}, a block of consecutive indices of "
                f"range order: the examples are not shuffled across batches")


@pytest.mark.question("2.7", weight=1)
def test_minibatches_draw_from_rng(submission):
    """Same seed -> the same batches; two seeds -> two orders (P(equal) = 1 / 100!); every run
    partitions range(n) (so a constant never passes). Fails: np.random.* global state, a fixed
    internal seed."""
    n, b = 100, 10
    orders = []
    for seed in (7301, 7301, 7302):
        run, check = batches_of(submission, n, b, True, seed=seed)
        orders.append([batch.tolist() for batch in run["batches"]])
    assert_true(orders[0] == orders[1],
                f"{check}: two runs with rng = np.random.default_rng(7301) gave different "
                f"batches: they must depend on `rng` only")
    assert_true(orders[0] != orders[2],
                f"{check}: rng = default_rng(7301) and default_rng(7302) gave the same batches: "
                f"the permutation must be drawn from `rng`")


@pytest.mark.question("2.7", weight=0.5)
def test_minibatches_is_a_generator(submission):
    """minibatches returns an iterator (a generator: `yield`), and its batches partition
    range(n). Fails: a list of batches."""
    run, check = batches_of(submission, 28, 7, True, seed=7400)
    assert_true(run["iterator"],
                f"{check}: returned a {run['type']}, which is not an iterator: minibatches is a "
                f"generator, that yields one batch at a time")


# ---------------------------------------------------------------------------------------------
# Q2.8 — momentum and Adam over several steps, state opaque, against torch.optim
# ---------------------------------------------------------------------------------------------

SHAPES = {"W": (3, 4), "b": (3,), "V": (2, 2, 2)}
STEPS = 6

# (lr, momentum) ; (lr, betas or None for the default, eps or None, gradient scale per key)
MOMENTUM_CASES = [(0.1, 0.9), (0.05, 0.5), (0.3, 0.0)]
ADAM_CASES = [
    (0.01, None, None, {"W": 1.0, "b": 1.0, "V": 1.0}),
    (0.1, (0.8, 0.99), 1e-6, {"W": 1.0, "b": 3.0, "V": 0.5}),
    (0.05, None, None, {"W": 1e-4, "b": 1e-4, "V": 1e-4}),
    (0.05, (0.5, 0.9), None, {"W": 1e-4, "b": 1.0, "V": 2.0}),
]


@functools.cache
def optimiser_inputs(name: str, case: int):
    """Initial params and STEPS gradient dicts that change from step to step."""
    rng = case_rng("training.optimiser", name, case)
    params = {k: rng.normal(0, 1, s) for k, s in SHAPES.items()}
    scales = ADAM_CASES[case][3] if name == "adam" else {k: 1.0 for k in SHAPES}
    grads = [{k: scales[k] * rng.normal(0, 1, s) for k, s in SHAPES.items()}
             for _ in range(STEPS)]
    return params, grads


def adam_options(case: int):
    """(lr, the keyword arguments the call passes: betas and eps only when not the default)."""
    lr, betas, eps, _ = ADAM_CASES[case]
    kwargs = {}
    if betas is not None:
        kwargs["betas"] = betas
    if eps is not None:
        kwargs["eps"] = eps
    return lr, kwargs


@reference
def trajectory_reference(name: str, case: int):
    """(the params after each step of torch.optim.SGD(momentum) or torch.optim.Adam fed the
    given gradients, the trajectories of its mistakes)."""
    params, grads_seq = optimiser_inputs(name, case)
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    if name == "momentum":
        lr, mu = MOMENTUM_CASES[case]
        optimiser = torch.optim.SGD(list(tensors.values()), lr=lr, momentum=mu)
    else:
        lr, kwargs = adam_options(case)
        optimiser = torch.optim.Adam(list(tensors.values()), lr=lr, **kwargs)
    expected = []
    for grads in grads_seq:
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k])
        optimiser.step()
        expected.append({k: t.detach().numpy().copy() for k, t in tensors.items()})
    if name == "momentum":
        return expected, mistakes.momentum_step(params, grads_seq, lr, mu, expected)
    return expected, mistakes.adam_step(params, grads_seq, lr, kwargs.get("betas", (0.9, 0.999)),
                                        kwargs.get("eps", 1e-8), expected)


def run_optimiser(submission, name: str, case: int):
    """(trajectory, call): the probe's record of each of the STEPS calls, the state threaded
    from None in the child."""
    params, grads = optimiser_inputs(name, case)
    if name == "momentum":
        lr, mu = MOMENTUM_CASES[case]
        args, kwargs = (lr, mu), {}
        call = f"momentum_step(params, grads, state, lr={lr}, momentum={mu})"
    else:
        lr, kwargs = adam_options(case)
        args = (lr,)
        call = "adam_step(params, grads, state, lr=%s%s)" % (
            lr, "".join(f", {k}={v}" for k, v in kwargs.items()))
    function = "momentum_step" if name == "momentum" else "adam_step"
    trajectory = submission.probe("run_optimiser", MODULE, function, params, grads, *args,
                                  module=MODULE, **kwargs)
    return trajectory, call


def check_trajectory(submission, name: str, case: int, source: str):
    """STEPS steps with gradients that change every step; the state is None at the first call,
    then whatever the previous call returned (it never leaves the sandbox).

    Each step's update, new params - previous params, is compared with torch's: an error in the
    update is not diluted by the size of the params (eps misplaced in Adam changes a 1e-4
    gradient's step by 1e-3 relative, invisible on params of size 1). Then what the probe saw
    of the inputs: the params and grads dicts passed in unchanged, and the state passed in
    unchanged (two more calls on copies of the old state give the same params; a state that
    cannot be copied is not checked) — findings that can cost points, never earn them."""
    trajectory, call = run_optimiser(submission, name, case)
    params, grads = optimiser_inputs(name, case)
    expected, wrong = trajectory_reference(name, case)
    expected, wrong = [params] + expected, {hint: [params] + run for hint, run in wrong.items()}
    top = max(float(np.abs(g).max()) for g in grads[0].values())
    inputs = {"params": params, "steps": STEPS, "max |grad|": float(f"{top:.1g}")}
    previous = params
    for step, record in enumerate(trajectory, start=1):
        got, want = record["params"], expected[step]
        assert_true(isinstance(got, dict) and set(got) == set(want),
                    f"{call}, step {step}: expected new params as a dict with keys "
                    f"{sorted(want)}, got "
                    f"{sorted(got) if isinstance(got, dict) else type(got).__name__}")
        for key in want:
            update = as_array(got[key], call, f"params[{key!r}] after step {step}") - previous[key]
            assert_close(update, want[key] - expected[step - 1][key],
                         check=f"{call}: the update of params[{key!r}] at step {step} of {STEPS} "
                               f"(new params - previous params), against {source}",
                         inputs=inputs,
                         mistakes={hint: run[step][key] - run[step - 1][key]
                                   for hint, run in wrong.items()})
        for what in ("params", "grads"):
            assert_true(not record[f"{what}_modified"],
                        f"{call}, step {step}: modified its input {what} in place\n  functions "
                        f"must not change their inputs: return new dicts of new arrays")
        assert_true(record["pure"] is not False,
                    f"{call}, step {step}: two calls on copies of the same (params, grads, state) "
                    f"gave different params: a call changed the state it was given (or is not "
                    f"deterministic); build a new state instead of updating the old one in place")
        previous = got


@pytest.mark.question("2.8", weight=2.5)
@pytest.mark.parametrize("case", range(len(MOMENTUM_CASES)))
def test_momentum_matches_torch_sgd(submission, case):
    """Six momentum steps = torch.optim.SGD(lr, momentum)'s. Fails: dampening, Nesterov, the
    state dropped, the previous buffer, the momentum on g, inputs or state changed in place."""
    check_trajectory(submission, "momentum", case, "torch.optim.SGD(momentum)")


@pytest.mark.question("2.8", weight=2.5)
@pytest.mark.parametrize("case", range(len(ADAM_CASES)))
def test_adam_matches_torch_adam(submission, case):
    """Six Adam steps = torch.optim.Adam's (default and given betas / eps, gradients of 1e-4 and
    of mixed scales). Fails: eps in the square root, no square root, no or partial bias
    correction, t frozen or from 0, eps-hat, betas swapped or ignored, inputs or state changed
    in place."""
    check_trajectory(submission, "adam", case, "torch.optim.Adam")
