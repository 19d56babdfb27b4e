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


TORCH_USER = GOOD.replace("return 2 * x", "import torch\n    return (2 * torch.from_numpy(x)).numpy()")


@pytest.mark.parametrize("policy, source, points", [
    ("zero", "import torch  # used while debugging\n" + GOOD, 1),
    ("zero", '"""torch.nn.functional.softmax, written in numpy"""\n' + GOOD, 1),
    ("zero", TORCH_USER, 0),
    ("zero", "import sys\n" + GOOD.replace("return 2 * x", "return sys.modules['tor' + 'ch'].zeros(1)"), 0.5),
    ("warn", TORCH_USER, 1),
])
def test_the_numpy_only_rule_is_decided_by_what_the_code_does(tmp_path, monkeypatch, policy,
                                                               source, points):
    """An unused import, a docstring: nothing. Using torch, however reached: the question is 0
    under "zero"; under "warn" it is graded as usual, with a warning."""
    rubric = dataclasses.replace(rubric_module.load(), torch_in_numpy_part=policy)
    monkeypatch.setattr(rubric_module, "load", lambda: rubric)
    (score,) = grade(tmp_path, make_submission(tmp_path, "torchy", source))
    q = by_id(score)["3.1"]
    if policy == "zero" and points == 0:
        assert q.status == "numpy-only rule" and any("torch was used" in n for n in q.notes)
        assert any("TorchNotAllowed" in t.message for t in q.tests)
    if policy == "warn":
        assert any("Q3.1: warning: softmax.py imports torch" in w for w in score.warnings)
    assert by_id(score)["1.2"].points == 1
    assert q.points == pytest.approx(points) if points != 0.5 else q.points < 1


def test_an_empty_or_broken_submission_scores_zero_with_a_reason(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (score,) = grade(tmp_path, empty)
    assert score.total == 0 and "no exam module found" in score.problems[0]


def test_a_module_that_hangs_at_import_costs_one_timeout_not_one_per_test(tmp_path):
    (score,) = grade(tmp_path, make_submission(tmp_path, "stuck", "while True:\n    pass\n" + GOOD))
    assert by_id(score)["3.1"].points == 0 and by_id(score)["1.2"].points == 1
    messages = [t.message for t in by_id(score)["3.1"].tests]
    assert sum("no answer within 1 s" in m and "not run" not in m for m in messages) == 1
    assert all("no answer within 1 s" in m for m in messages)


TIMING_SUITE = """
import numpy as np
import pytest
from autograder.checks import assert_close

@pytest.mark.question("3.1", weight=3)
@pytest.mark.parametrize("case", range(3))
def test_maybe_slow(submission, case):
    assert_close(submission.call("softmax", "maybe_slow", float(case)), float(case),
                 check="maybe_slow(x)", inputs={"x": case})

@pytest.mark.question("1.2", weight=1)
@pytest.mark.parametrize("case", range(6))
def test_sleepy(submission, case):
    assert submission.call("mlp", "sleepy") == 1
"""
SLOW_ONCE = "import time\ndef maybe_slow(x):\n    while x == 1.0:\n        pass\n    return x\n"
SLEEPY = "import time\ndef sleepy():\n    time.sleep(0.8)\n    return 1\n"


def test_a_call_that_times_out_costs_its_own_test_only(tmp_path):
    (score,) = grade(tmp_path, make_submission(tmp_path, "slow", SLOW_ONCE, mlp=SLEEPY),
                     source=TIMING_SUITE)
    tests = by_id(score)["3.1"].tests
    assert [t.passed for t in tests] == [True, False, True]
    assert by_id(score)["3.1"].points == pytest.approx(2 / 3, abs=1e-4)


def test_a_question_whose_calls_all_crawl_stops_at_its_budget(tmp_path):
    limits = Limits(call_seconds=1.0, question_seconds=2.0)
    (score,) = grading.grade([make_submission(tmp_path, "crawl", SLOW_ONCE, mlp=SLEEPY)],
                             suites=make_suites(tmp_path, TIMING_SUITE), limits=limits)
    tests = by_id(score)["1.2"].tests
    assert sum(t.passed for t in tests) == 2   # 0.8 s each, plus spawning: two fit in 2 s
    assert all("time budget" in t.message for t in tests if not t.passed)


STAND_IN_SUITE = """
import numpy as np
import pytest
from autograder.checks import assert_close

@pytest.mark.question("1.3")
def test_caller(submission):
    x, W, b = np.ones((2, 3)), np.arange(12.0).reshape(4, 3), np.arange(4.0)
    assert_close(submission.call("mlp", "caller", x, W, b), 2 * (x @ W.T + b),
                 check="caller(x, W, b)", inputs={"x": x})

@pytest.mark.question("1.1")
def test_linear(submission):
    x, W, b = np.ones((2, 3)), np.arange(12.0).reshape(4, 3), np.arange(4.0)
    assert_close(submission.call("mlp", "linear", x, W, b), x @ W.T + b,
                 check="linear(x, W, b)", inputs={"x": x})
"""
WRONG_LINEAR = "def linear(x, W, b):\n    return x @ W.T\n\ndef caller(x, W, b):\n    return 2 * linear(x, W, b)\n"
# A helper of its own convention (a dict, not the contract's array): the caller raises with the
# kit's linear, and is graded with the student's own.
OWN_LINEAR = ("def linear(x, W, b):\n    return {'out': x @ W.T + b}\n\n"
              "def caller(x, W, b):\n    return 2 * linear(x, W, b)['out']\n")
# Tells the runs apart and answers differently in each: two guesses, if the second counted.
TWO_GUESSES = ("def linear(x, W, b):\n    return x @ W.T + b\n\n"
               "def caller(x, W, b):\n    if hasattr(linear, '__wrapped__') or linear.__module__ != __name__:\n"
               "        return 3 * linear(x, W, b)\n    return 2 * linear(x, W, b)\n")


@pytest.mark.parametrize("mlp, linear_points, note", [
    (WRONG_LINEAR, 0, "graded with the kit's own linear in place of yours"),
    (OWN_LINEAR, 0, "passed with your own linear"),
])
def test_a_bug_in_a_function_another_question_calls_costs_its_own_question_only(
        tmp_path, mlp, linear_points, note):
    (score,) = grade(tmp_path, make_submission(tmp_path, "helper", GOOD, mlp=mlp),
                     source=STAND_IN_SUITE)
    assert by_id(score)["1.1"].points == linear_points
    (caller,) = by_id(score)["1.3"].tests
    assert caller.passed and note in caller.note


def test_a_run_with_stand_ins_that_answered_is_final(tmp_path):
    (score,) = grade(tmp_path, make_submission(tmp_path, "guesser", GOOD, mlp=TWO_GUESSES),
                     source=STAND_IN_SUITE)
    (caller,) = by_id(score)["1.3"].tests
    assert not caller.passed and "in place of yours" in caller.note


@pytest.mark.parametrize("source, error", [
    (SUITE + "\n@pytest.mark.question('3.1')\ndef test_no_fixture():\n    pass\n",
     "must take the `submission` fixture"),
    (SUITE + "\n@pytest.mark.question('3.1', wieght=2)\ndef test_typo(submission):\n    pass\n",
     "unknown marker argument wieght"),
    (SUITE + "\n@pytest.mark.question('3.1', weight=0)\ndef test_zero(submission):\n    pass\n",
     "weight must be a positive number"),
    (SUITE + "\n@pytest.mark.question('3.1')\ndef test_own_bug(submission):\n    assert 1 == 2, 'generator stuck'\n",
     "test_own_bug.*AssertionError"),
])
def test_what_the_plugin_relies_on_is_checked_and_a_suite_bug_stops_grading(tmp_path, source,
                                                                             error):
    with pytest.raises(grading.SuiteError, match=error):
        grade(tmp_path, make_submission(tmp_path, "good", GOOD), source=source)
