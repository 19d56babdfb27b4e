"""The autodiff suite's op table and graph generator (autograder/probes/autodiff_ops.py,
autograder/suites/autodiff_graphs.py)."""
import numpy as np
import pytest
import torch

from autograder.checks import SuiteError
from autograder.probes.autodiff_ops import OPS, numpy_forward, torch_forward
from autograder.suites import autodiff_graphs as graphs

CASES = {"values_fn": 4, "values_sugar": 4, "structure": 3, "elementwise": 4, "broadcast": 4,
         "matrix": 4, "unreachable": 4, "ladder": 1, "kinks": 1, "mlp": 2}


@pytest.mark.parametrize("name", list(OPS))
def test_numpy_and_torch_forwards_agree(name):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0.5, 2.0, (3, 3)), rng.normal(0, 1, (3, 3))
    operands = [x, y][:OPS[name].arity]
    for kwargs in ([{}, {"axis": 0}, {"axis": 1, "keepdims": True}, {"keepdims": True}]
                   if OPS[name].reduces else [{}]):
        want = torch_forward(name, [torch.from_numpy(o) for o in operands], kwargs).numpy()
        np.testing.assert_allclose(numpy_forward(name, operands, kwargs), want, rtol=1e-12)


def test_op_table_arity_and_text():
    assert [n for n, op in OPS.items() if op.arity == 2] == ["add", "sub", "mul", "div", "matmul"]
    assert OPS["neg"].arity == 1 and OPS["neg"].text(["v1"], "sugar", {}) == "-v1"
    assert OPS["sum"].text(["v2"], "fn", {"axis": 0}) == "sum(v2, axis=0)"
    assert OPS["transpose"].text(["v3"], "sugar", {}) == "v3.T"


@pytest.mark.parametrize("kind", list(CASES))
def test_every_graph_is_finite_and_ends_in_a_0d_out(kind):
    for case in range(CASES[kind]):
        p = graphs.GRAPHS[kind](case)
        out = p.out()
        assert out is not None and p.vals[out].shape == ()
        assert all(np.all(np.isfinite(p.vals[i])) for i in p.var_slots())


def test_graphs_do_not_depend_on_what_was_built_before():
    first = graphs.GRAPHS["matrix"](1)
    for kind, n in CASES.items():
        for case in range(n):
            graphs.GRAPHS[kind](case)
    again = graphs.GRAPHS["matrix"](1)
    assert again.listing() == first.listing()


def test_styles_have_a_stream_of_their_own():
    """Drawing styles differently changes how ops are written, never which ops are drawn."""
    def grown(styles):
        g = graphs._start("elementwise", 2, styles, graphs.ELEMENTWISE_MIX)
        g.grow(14)
        return g.p
    fn, mixed = grown(graphs.STYLES_FN), grown(graphs.STYLES_MIXED)
    strip = lambda p: [ins[:2] + ins[3:] if ins[0] == "op" else ins[:1] for ins in p.ins]  # noqa: E731
    assert strip(fn) == strip(mixed)
    assert [ins[2] for ins in fn.ins if ins[0] == "op"] != [ins[2] for ins in mixed.ins
                                                           if ins[0] == "op"]


def test_a_pool_no_proposal_fits_stops_with_a_suite_error():
    """The likeliest stuck case: every draw is rejected before an op is proposed."""
    g = graphs.Grower(graphs.Program(), graphs.Streams("stuck", 0), graphs.STYLES_FN,
                      {"transpose": 1, "matmul": 1})
    g.pool = [g.p.leaf(np.ones(3))]          # 1-D: no transpose, no matmul fits
    with pytest.raises(SuiteError, match="cannot grow"):
        g.grow(3)


def test_structure_graphs_hold_an_unreachable_op_and_equal_leaves():
    for case in range(CASES["structure"]):
        p = graphs.graph("structure", case)
        reach = p.reachable(p.out())
        assert any(p.ins[i][0] == "op" for i in set(p.var_slots()) - reach)
        leaves = [i for i in p.var_slots() if p.ins[i][0] == "leaf"]
        assert any(np.array_equal(p.vals[i], p.vals[j]) for i in leaves for j in leaves if i < j)


def test_fan_out_and_square_matmuls_are_drawn():
    """x * x and a node feeding several ops (fan-out), and square matmuls (a transpose mistake
    gives values, not a shape error), each occur among the cases."""
    elementwise = [graphs.graph("elementwise", c) for c in range(4)]
    assert any(len(set(p.parents[i])) < len(p.parents[i]) for p in elementwise
               for i in p.var_slots())
    matrix = [graphs.graph("matrix", c) for c in range(4)]
    assert any(ins[0] == "op" and ins[1] == "matmul" and p.vals[ins[3][1]].shape[0]
               == p.vals[ins[3][1]].shape[1] for p in matrix for ins in p.ins)
