"""The same submission gets the same score on every run, in any test order, with 1 or 2 torch
threads (in the grader, where references are computed)."""
import json
import subprocess
import sys
from pathlib import Path

from autograder.grading import Grader

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "submissions"
SUBMISSIONS = [EXAMPLES / "correct", EXAMPLES / "partial.zip"]   # full marks, and about half

FRESH_RUN = """
import json, sys, torch
from autograder.grading import Grader
from test_determinism import outcomes
with Grader("M2", shuffle_seed=int(sys.argv[1])) as grader:
    torch.set_num_threads(2)   # after the Grader, which sets 1
    print(json.dumps(outcomes(grader.grade([__import__("pathlib").Path(p) for p in sys.argv[2:]]))))
"""


def outcomes(scores) -> list:
    """What a score is made of: each test's outcome, and the totals (messages may differ)."""
    return json.loads(json.dumps([
        [s.submission, round(s.total, 9),
         sorted([q.id, t.name, t.passed] for q in s.questions for t in q.tests)] for s in scores]))


def test_scores_do_not_depend_on_the_run_the_test_order_or_the_thread_count():
    with Grader("M2") as grader:
        first = outcomes(grader.grade(SUBMISSIONS))
        again = outcomes(grader.grade(SUBMISSIONS))
        grader.shuffle_seed = 20240607
        shuffled = outcomes(grader.grade(SUBMISSIONS))
    fresh = subprocess.run([sys.executable, "-c", FRESH_RUN, "7", *map(str, SUBMISSIONS)],
                           capture_output=True, text=True, timeout=600,
                           cwd=Path(__file__).parent)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    two_threads = json.loads(fresh.stdout.splitlines()[-1])
    assert first[0][1] == 35 and 0 < first[1][1] < 35
    assert again == first
    assert shuffled == first
    assert two_threads == first
