"""Q2.7–Q2.8 — minibatches, momentum and Adam, against torch.optim.

Bugs these checks catch, each named where it is caught:
- minibatches: the last, smaller batch dropped; an empty batch at the end when batch_size
  divides n; overlapping or missing indices (a new permutation per batch); float indices; a
  list returned instead of a generator; an endless generator; shuffle ignored (range order) or
  always applied (shuffle=False not in range order); only the batch order shuffled, or only
  within batches; np.random.* global state (same seed, different batches) or a fixed seed
  (different seeds, same order).
- momentum_step: dampening (buf = mu buf + (1 - mu) g); Nesterov; the state not carried over
  (plain SGD); the old buffer used for the step; params, grads or the state modified in place.
- adam_step: eps inside the square root; eps added before the bias correction (the paper's
  eps-hat form: visible with gradients of 1e-4); no bias correction, or only on m; the step
  counter not incremented; beta1 and beta2 swapped; the betas/eps arguments ignored;
  params, grads or the state modified in place.
"""
import functools
import math

import numpy as np
import pytest
import torch

from autograder.checks import as_array, assert_close, assert_true, case_rng

MODULE = "training"
DELTA = 1e-9   # a correct implementation fails a statistical check with probability <= DELTA


# ---------------------------------------------------------------------------------------------
# Q2.7 — minibatches: a partition, batch sizes, use of rng; never the exact permutation
# ---------------------------------------------------------------------------------------------

def batches_of(submission, n, batch_size, shuffle=True, seed=0):
    """The batches the student's generator yields (at most ceil(n / batch_size) + 2)."""
    cap = -(-n // batch_size) + 2
    run = submission.probe("run_minibatches", MODULE, "minibatches", seed, n, batch_size, shuffle,
                           cap, module=MODULE)
    check = f"minibatches(n={n}, batch_size={batch_size}, rng, shuffle={shuffle})"
    assert_true(run["exhausted"],
                f"{check}: the generator yielded more than {cap} batches; it must stop after "
                f"ceil(n / batch_size) = {-(-n // batch_size)} batches (Q2.7)")
    for i, batch in enumerate(run["batches"]):
        assert_true(batch.ndim == 1 and (batch.dtype.kind in "iu" or batch.size == 0),
                    f"{check}: batch {i} should be a 1-D array of int indices, got dtype "
                    f"{batch.dtype} and shape {batch.shape} (Q2.7)")
    return run, check


PARTITION_CASES = [(103, 10, True), (100, 10, True), (7, 10, True), (50, 1, True), (64, 16, False),
                   (0, 4, True)]


@pytest.mark.question("2.7", weight=2)
@pytest.mark.parametrize("case", range(len(PARTITION_CASES)))
def test_minibatches_partition_range_n(submission, case):
    """Every index of range(n) exactly once; ceil(n / b) batches of b, the last holding the
    remainder (none when b divides n, no batch at all when n = 0)."""
    n, b, shuffle = PARTITION_CASES[case]
    run, check = batches_of(submission, n, b, shuffle, seed=7000 + case)
    batches = run["batches"]
    sizes = [len(x) for x in batches]
    expected = [b] * (n // b) + ([n % b] if n % b else [])
    hint = ""
    if sizes == [b] * (n // b) and n % b:
        hint = ("\n  hint: the last, smaller batch was dropped: it holds the remaining "
                f"{n % b} examples (Q2.7)")
    elif sizes == expected + [0]:
        hint = "\n  hint: an empty batch at the end: stop when every index was yielded (Q2.7)"
    assert_true(sizes == expected,
                f"{check}: batch sizes {sizes[:6]}{'...' if len(sizes) > 6 else ''} "
                f"({len(sizes)} batches), expected {len(expected)} batches of {b}"
                f"{', the last of ' + str(n % b) if n % b else ''}{hint}")
    order = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
    assert_true(np.array_equal(np.sort(order), np.arange(n)),
                f"{check}: the batches do not partition range({n}): "
                f"{len(np.unique(order))} distinct indices of {len(order)}, range "
                f"[{order.min(initial=0)}, {order.max(initial=0)}]; draw one permutation, "
                f"then slice it (Q2.7)")


@pytest.mark.question("2.7", weight=1)
@pytest.mark.parametrize("case", range(2))
def test_minibatches_in_range_order_without_shuffle(submission, case):
    n, b = [(23, 5), (12, 4)][case]
    run, check = batches_of(submission, n, b, shuffle=False, seed=7100 + case)
    got = [x.tolist() for x in run["batches"]]
    expected = [list(range(s, min(s + b, n))) for s in range(0, n, b)]
    assert_true(got == expected,
                f"{check}: expected the batches of range order {expected[:2]}..., got "
                f"{got[:2]}...; with shuffle=False the order is 0, 1, ..., n - 1 (Q2.7)")


@pytest.mark.question("2.7", weight=1)
@pytest.mark.parametrize("seed", [7201, 7202])
def test_minibatches_shuffle_examples(submission, seed):
    """With shuffle=True (n = 103, b = 10) the order is not range order, and the first batch is
    not one of the 11 aligned blocks {10k, ..., 10k + 9} of range order.

    For a uniform permutation, P(range order) = 1 / 103!, and P(the first batch's set is one
    of the 11 blocks) = 11 / C(103, 10) < 1e-12: a correct implementation fails with probability
    < 1e-9. Fails: shuffle ignored, only the order of the batches shuffled, only within batches
    (the first batch is then {0..9})."""
    n, b = 103, 10
    run, check = batches_of(submission, n, b, True, seed=seed)
    batches = run["batches"]
    order = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
    assert_true(not np.array_equal(order, np.arange(len(order))),
                f"{check}: the batches come in range order; with shuffle=True draw a random "
                f"permutation from rng (Q2.7)")
    blocks = [set(range(s, min(s + b, n))) for s in range(0, n, b)]
    assert_true(bool(batches) and set(batches[0].tolist()) not in blocks,
                f"{check}: the first batch is {sorted(batches[0].tolist()) if batches else []}, "
                f"a block of consecutive indices: shuffle the examples (one permutation of "
                f"range(n)), not only the batches or within a batch (Q2.7)")


@pytest.mark.question("2.7", weight=1)
def test_minibatches_use_rng(submission):
    """Same seed -> the same batches; two seeds -> two orders (P(equal) = 1 / 103!).
    Fails: np.random.* global state, a fixed internal seed."""
    n, b = 103, 10
    orders = []
    for seed in (7301, 7301, 7302):
        run, check = batches_of(submission, n, b, True, seed=seed)
        orders.append([x.tolist() for x in run["batches"]])
    assert_true(orders[0] == orders[1],
                f"{check}: two runs with rng = np.random.default_rng(7301) gave different "
                f"batches; draw the permutation from `rng` only, never from np.random.* (Q2.7)")
    assert_true(orders[0] != orders[2],
                f"{check}: rng = default_rng(7301) and default_rng(7302) gave the same batches; "
                f"draw the permutation from the `rng` argument (Q2.7)")


@pytest.mark.question("2.7", weight=0.5)
def test_minibatches_is_a_generator(submission):
    run, check = batches_of(submission, 30, 7, True, seed=7400)
    assert_true(run["iterator"],
                f"{check}: returned an iterable that is not an iterator (a list?); minibatches "
                f"is a generator: `yield` one batch at a time (Q2.7)")


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


def torch_trajectory(params, grads_seq, make_optimiser):
    """Params after each step of a torch optimiser fed the given gradients."""
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    optimiser = make_optimiser(list(tensors.values()))
    out = []
    for grads in grads_seq:
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k])
        optimiser.step()
        out.append({k: t.detach().numpy().copy() for k, t in tensors.items()})
    return out


def adam_options(case: int):
    lr, betas, eps, _ = ADAM_CASES[case]
    kwargs = {}
    if betas is not None:
        kwargs["betas"] = betas
    if eps is not None:
        kwargs["eps"] = eps
    return lr, kwargs


@functools.cache
def reference_trajectory(name: str, case: int):
    params, grads = optimiser_inputs(name, case)
    if name == "momentum":
        lr, mu = MOMENTUM_CASES[case]
        return torch_trajectory(params, grads,
                                lambda ps: torch.optim.SGD(ps, lr=lr, momentum=mu))
    lr, kwargs = adam_options(case)
    return torch_trajectory(params, grads, lambda ps: torch.optim.Adam(ps, lr=lr, **kwargs))


def numpy_momentum(params, grads_seq, lr, mu, *, dampening=False, nesterov=False,
                   no_state=False, lagged=False):
    """Mistaken momentum trajectories (for hints)."""
    p = {k: v.copy() for k, v in params.items()}
    buf, out = None, []
    for g in grads_seq:
        old = buf
        if no_state or buf is None:
            buf = {k: g[k].copy() for k in g}
        else:
            buf = {k: mu * buf[k] + ((1 - mu) if dampening else 1) * g[k] for k in g}
        for k in p:
            step = buf[k]
            if nesterov:
                step = g[k] + mu * buf[k]
            if lagged:
                step = g[k] if old is None else old[k]
            p[k] = p[k] - lr * step
        out.append({k: v.copy() for k, v in p.items()})
    return out


def numpy_adam(params, grads_seq, lr, betas=(0.9, 0.999), eps=1e-8, *, eps_in_sqrt=False,
               no_correction=False, only_m=False, frozen_t=False, eps_hat=False, swapped=False):
    """Mistaken Adam trajectories (for hints)."""
    b1, b2 = betas[::-1] if swapped else betas
    p = {k: v.copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(x) for k, x in params.items()}
    out = []
    for t, g in enumerate(grads_seq, start=1):
        tc = 1 if frozen_t else t
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            c1 = 1.0 if no_correction else 1 - b1 ** tc
            c2 = 1.0 if no_correction or only_m else 1 - b2 ** tc
            if eps_hat:
                p[k] = p[k] - lr * math.sqrt(c2) / c1 * m[k] / (np.sqrt(v[k]) + eps)
            elif eps_in_sqrt:
                p[k] = p[k] - lr * (m[k] / c1) / np.sqrt(v[k] / c2 + eps)
            else:
                p[k] = p[k] - lr * (m[k] / c1) / (np.sqrt(v[k] / c2) + eps)
        out.append({k: x.copy() for k, x in p.items()})
    return out


def mistaken_trajectories(name: str, case: int) -> dict:
    params, grads = optimiser_inputs(name, case)
    if name == "momentum":
        lr, mu = MOMENTUM_CASES[case]
        run = functools.partial(numpy_momentum, params, grads, lr, mu)
        return {
            "dampening: torch's momentum adds the whole gradient, buf = momentum * buf + g "
            "(Q2.8)": run(dampening=True),
            "Nesterov's update: torch's default momentum steps along buf itself (Q2.8)":
                run(nesterov=True),
            "the velocity was not carried over: keep buf in the returned state and use the "
            "state passed in (plain SGD otherwise) (Q2.8)": run(no_state=True),
            "stepped with the previous buffer: update buf first, then p <- p - lr * buf (Q2.8)":
                run(lagged=True),
        }
    lr, kwargs = adam_options(case)
    run = functools.partial(numpy_adam, params, grads, lr, kwargs.get("betas", (0.9, 0.999)),
                            kwargs.get("eps", 1e-8))
    return {
        "eps inside the square root: torch divides by sqrt(v_hat) + eps (Q2.8)":
            run(eps_in_sqrt=True),
        "no bias correction: divide m by 1 - beta1^t and v by 1 - beta2^t (Q2.8)":
            run(no_correction=True),
        "only m was bias-corrected: v_hat = v / (1 - beta2^t) too (Q2.8)": run(only_m=True),
        "the step counter t did not advance: t is 1 at the first call, then 2, 3, ... (keep it "
        "in the state) (Q2.8)": run(frozen_t=True),
        "eps added to sqrt(v) before the bias correction (the paper's eps-hat form): torch "
        "adds eps to sqrt(v_hat), which matters for small gradients (Q2.8)": run(eps_hat=True),
        "beta1 and beta2 swapped: beta1 (0.9) averages g, beta2 (0.999) averages g^2 (Q2.8)":
            run(swapped=True),
    }


def run_optimiser(submission, name: str, case: int):
    params, grads = optimiser_inputs(name, case)
    if name == "momentum":
        lr, mu = MOMENTUM_CASES[case]
        args, kwargs = (lr, mu), {}
        shown = f"momentum_step(params, grads, state, lr={lr}, momentum={mu})"
    else:
        lr, kwargs = adam_options(case)
        args = (lr,)
        shown = "adam_step(params, grads, state, lr=%s%s)" % (
            lr, "".join(f", {k}={v}" for k, v in kwargs.items()))
    function = "momentum_step" if name == "momentum" else "adam_step"
    trajectory = submission.probe("run_optimiser", MODULE, function, params, grads, *args,
                                  module=MODULE, **kwargs)
    return trajectory, shown, params, grads


@pytest.mark.question("2.8", weight=2.5)
@pytest.mark.parametrize("name,case", [("momentum", c) for c in range(len(MOMENTUM_CASES))])
def test_momentum_matches_torch_sgd(submission, name, case):
    check_trajectory(submission, name, case, "torch.optim.SGD(momentum)")


@pytest.mark.question("2.8", weight=2.5)
@pytest.mark.parametrize("name,case", [("adam", c) for c in range(len(ADAM_CASES))])
def test_adam_matches_torch_adam(submission, name, case):
    check_trajectory(submission, name, case, "torch.optim.Adam")


def check_trajectory(submission, name, case, source):
    """STEPS steps with gradients that change every step; the state is None at the first call,
    then whatever the previous call returned (it never leaves the sandbox).

    Each step's update, new params - previous params, is compared with torch's: an error in the
    update is not diluted by the size of the params (eps misplaced in Adam changes a 1e-4
    gradient's step by 1e-3 relative, invisible on params of size 1)."""
    trajectory, shown, params, grads = run_optimiser(submission, name, case)
    expected = [params] + reference_trajectory(name, case)
    mistakes = mistaken_trajectories(name, case)
    for wrong in mistakes.values():
        wrong.insert(0, params)
    top = max(float(np.abs(g).max()) for g in grads[0].values())
    inputs = {"params": params, "steps": STEPS, "max |grad|": float(f"{top:.1g}")}
    previous = params
    for step, record in enumerate(trajectory, start=1):
        got, want = record["params"], expected[step]
        assert_true(isinstance(got, dict) and set(got) == set(want),
                    f"{shown}, step {step}: expected new params as a dict with keys "
                    f"{sorted(want)}, got "
                    f"{sorted(got) if isinstance(got, dict) else type(got).__name__}")
        for key in want:
            update = as_array(got[key], shown, f"params[{key!r}] after step {step}") - previous[key]
            assert_close(update, want[key] - expected[step - 1][key],
                         check=f"{shown}: the update of params[{key!r}] at step {step} of {STEPS} "
                               f"(new params - previous params), against {source}",
                         inputs=inputs,
                         mistakes={hint: wrong[step][key] - wrong[step - 1][key]
                                   for hint, wrong in mistakes.items()})
        previous = got


@pytest.mark.question("2.8", weight=0.5)
@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_optimiser_inputs_and_state_not_modified(submission, name):
    """Neither params, grads nor the state passed in may change: the probe compares params and
    grads with copies, and calls the step twice on one copy of the old state (different
    results mean the first call changed the state it was given)."""
    trajectory, shown, _, _ = run_optimiser(submission, name, 0)
    for step, record in enumerate(trajectory, start=1):
        for what in ("params", "grads"):
            assert_true(not record[f"{what}_modified"],
                        f"{shown}, step {step}: the {what} dict passed in was modified; return "
                        f"new dicts of new arrays (Q2.8)")
        assert_true(record["pure"] is not False,
                    f"{shown}, step {step}: two calls with the same (params, grads, state) gave "
                    f"different params: the first call changed the state it was given; build a "
                    f"new state instead of updating the old one in place (Q2.8)")
