"""The grading pipeline end to end: suites -> plugin -> sandbox -> scores, on small suites."""
import dataclasses

import pytest
from helpers import GOOD, SUITE, make_submission, make_suites

from autograder import grading, rubric as rubric_module
from autograder.isolation.sandbox import Limits

def grade(tmp_path, *submissions, source=SUITE, track="M2"):
    return grading.grade(list(submissions), track=track, suites=make_suites(tmp_path, source),
                         limits=Limits(call_seconds=1.0))


def by_id(score):
    return {q.id: q for q in score.questions}


def test_points_are_the_weighted_share_of_passed_tests(tmp_path):
    bad_double = "def double(x):\n    return x + x if x[0] == 0 else x\n\ndef slow():\n    while True: pass\n"
    good, partial = grade(tmp_path, make_submission(tmp_path, "good", GOOD),
                          make_submission(tmp_path, "partial", bad_double))
    assert by_id(good)["3.1"].points == 1 and by_id(good)["1.2"].points == 1
    # double passes 1 case of 3 (weight 3 shared: 1 of 4), the hanging test fails (1 of 4).
    assert by_id(partial)["3.1"].points == pytest.approx(0.25)
    assert by_id(partial)["1.2"].points == 1     # a hang in softmax costs nothing elsewhere
    messages = [t.message for t in by_id(partial)["3.1"].tests if not t.passed]
    assert any("no answer within 1 s" in m for m in messages)
    assert any("double(x) on x (2,): values differ" in m and "max abs error" in m for m in messages)


def test_questions_without_tests_are_kept_as_not_graded_yet(tmp_path):
    (score,) = grade(tmp_path, make_submission(tmp_path, "good", GOOD))
    assert len(score.questions) == 24 and score.max == 35
    assert by_id(score)["5.7"].status == "not graded yet" and by_id(score)["5.7"].points == 0
    assert score.total == 2 and score.on20 == pytest.approx(20 * 2 / 35, abs=0.01)


def test_track_m1_has_25_points_and_no_part_5(tmp_path):
    (score,) = grade(tmp_path, make_submission(tmp_path, "good", GOOD), track="M1")
    assert score.max == 25 and {q.part for q in score.questions} == {1, 2, 3, 4}


def test_a_missing_module_costs_its_questions_only(tmp_path):
    (score,) = grade(tmp_path, make_submission(tmp_path, "nomlp", GOOD, mlp=None))
    assert by_id(score)["1.2"].points == 0 and by_id(score)["3.1"].points == 1
    assert "mlp.py was not submitted" in by_id(score)["1.2"].tests[0].message


def test_a_marker_naming_an_unknown_question_is_a_collection_error(tmp_path):
    source = SUITE.replace('"1.2"', '"9.9"')
    with pytest.raises(grading.SuiteError, match="question '9.9' is not in the rubric"):
        grade(tmp_path, make_submission(tmp_path, "good", GOOD), source=source)


def test_a_test_without_marker_is_a_collection_error(tmp_path):
    source = SUITE + "\ndef test_unmarked(submission):\n    pass\n"
    with pytest.raises(grading.SuiteError, match="no @pytest.mark.question"):
        grade(tmp_path, make_submission(tmp_path, "good", GOOD), source=source)


@pytest.mark.parametrize("policy, points", [("zero", 0), ("warn", 1)])
def test_torch_in_a_numpy_part_follows_the_rubric_policy(tmp_path, monkeypatch, policy, points):
    rubric = dataclasses.replace(rubric_module.load(), torch_in_numpy_part=policy)
    monkeypatch.setattr(rubric_module, "load", lambda: rubric)
    (score,) = grade(tmp_path, make_submission(tmp_path, "torchy", "import torch\n" + GOOD))
    q = by_id(score)["3.1"]
    assert q.points == points and by_id(score)["1.2"].points == 1
    assert any("softmax.py uses torch (import torch (line 1))" in n for n in q.notes)
    assert (q.status == "numpy-only rule") == (policy == "zero")
    assert any("Q3.1: warning" in w for w in score.warnings) == (policy == "warn")


def test_an_empty_or_broken_submission_scores_zero_with_a_reason(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (score,) = grade(tmp_path, empty)
    assert score.total == 0 and "no exam module found" in score.problems[0]


def test_a_module_that_hangs_at_import_costs_one_timeout_not_one_per_test(tmp_path):
    import time
    start = time.monotonic()
    (score,) = grade(tmp_path, make_submission(tmp_path, "stuck", "while True:\n    pass\n" + GOOD))
    assert time.monotonic() - start < 8      # 4 tests of Q3.1, one timeout of 1 s
    assert by_id(score)["3.1"].points == 0 and by_id(score)["1.2"].points == 1
    assert all("no answer within 1 s" in t.message for t in by_id(score)["3.1"].tests)
