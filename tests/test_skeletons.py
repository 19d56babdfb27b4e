"""assignments/ is what the generator makes of solutions/: stubs naming their question."""
import ast

import pytest

from autograder import rubric as rubric_module, skeleton


@pytest.fixture(scope="module")
def rubric():
    return rubric_module.load()


def test_assignments_match_the_generator(rubric):
    expected = skeleton.expected_skeletons(rubric)
    for name, text in expected.items():
        current = (skeleton.ASSIGNMENTS_DIR / name).read_text(encoding="utf-8")
        assert current == text, f"assignments/{name} differs from solutions/: run `dlexam skeletons`"
    assert skeleton.zip_contents(skeleton.EXAMPLE_ZIP) == expected, \
        "examples/submissions/skeleton.zip is stale: run `dlexam skeletons`"


def test_every_rubric_function_has_exactly_one_region(rubric):
    found = {}
    for module in rubric.modules:
        source = (skeleton.SOLUTIONS_DIR / f"{module}.py").read_text(encoding="utf-8")
        for _, _, qualname, _ in skeleton.regions(source, module, rubric):
            found[f"{module}.{qualname}"] = found.get(f"{module}.{qualname}", 0) + 1
    listed = {f for q in rubric.questions for f in q.functions}
    assert found == {f: 1 for f in listed}


def test_skeletons_hold_no_solution_line_and_stubs_name_questions(rubric):
    for name, text in skeleton.expected_skeletons(rubric).items():
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        ast.parse(text)
    mlp = skeleton.expected_skeletons(rubric)["mlp.py"]
    assert 'raise NotImplementedError("Q1.3: implement output_layer_grads")' in mlp


def test_a_region_the_rubric_does_not_list_is_an_error(rubric):
    source = "def helper():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    with pytest.raises(ValueError, match="no rubric question lists"):
        skeleton.make_skeleton(source, "mlp", rubric)
    with pytest.raises(ValueError, match="without"):
        skeleton.make_skeleton("def linear():\n    ### BEGIN SOLUTION\n    pass\n", "mlp", rubric)


def test_regions_become_one_indented_stub(rubric):
    source = ('class Var:\n    def backward(self):\n        """doc"""\n        ### BEGIN SOLUTION\n'
              '        x = 1\n        return x\n        ### END SOLUTION\n')
    assert skeleton.make_skeleton(source, "autodiff", rubric) == (
        'class Var:\n    def backward(self):\n        """doc"""\n'
        '        raise NotImplementedError("Q3.3: implement Var.backward")\n')
