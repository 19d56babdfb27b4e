"""The rubric holds the exam's point scale: 24 questions, 35 points, tracks M1 (25) and M2 (35)."""
import pytest

from autograder import rubric as rubric_module


@pytest.fixture(scope="module")
def rubric():
    return rubric_module.load()


def test_every_exam_question_once_with_its_points(rubric):
    expected = {"1.1": 2, "1.2": 1, "1.3": 2, "2.1": 1, "2.2": 1, "2.3": 1, "2.4": 1, "2.5": 2,
                "2.6": 1, "2.7": 1, "2.8": 2, "3.1": 1, "3.2": 1, "3.3": 2, "3.4": 2, "4.1": 2,
                "4.2": 2, "5.1": 2, "5.2": 2, "5.3": 1, "5.4": 2, "5.5": 1, "5.6": 1, "5.7": 1}
    assert {q.id: q.points for q in rubric.questions} == expected
    assert all(q.title and q.functions for q in rubric.questions)


def test_parts_and_tracks_follow_the_exam(rubric):
    per_part = {p.id: sum(q.points for q in rubric.questions if q.part == p.id) for p in rubric.parts}
    assert per_part == {1: 5, 2: 10, 3: 6, 4: 4, 5: 10}
    assert rubric.max_points("M1") == 25 and rubric.max_points("M2") == 35
    assert [p.numpy_only for p in rubric.parts] == [True, True, True, True, False]


def test_function_names_map_back_to_their_question(rubric):
    assert rubric.question_of("mlp.output_layer_grads").id == "1.3"
    assert rubric.question_of("autodiff.Var.backward").id == "3.3"
    assert rubric.question_of("mlp.no_such_function") is None
    assert rubric.modules == ["mlp", "training", "softmax", "autodiff", "cnn", "vae", "gan"]


def test_invalid_rubrics_are_refused(rubric):
    text = rubric_module.RUBRIC_PATH.read_text()
    with pytest.raises(ValueError, match="unknown part"):
        rubric_module.parse(text.replace('id = "1.1"\npart = 1', 'id = "1.1"\npart = 9'))
    with pytest.raises(ValueError, match="duplicate"):
        rubric_module.parse(text.replace('id = "1.2"', 'id = "1.1"'))
    with pytest.raises(ValueError, match="zero"):
        rubric_module.parse(text.replace('torch_in_numpy_part = "zero"', 'torch_in_numpy_part = "maybe"'))
    with pytest.raises(KeyError, match="unknown question"):
        rubric.question("9.9")
