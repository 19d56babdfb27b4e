"""The same submission gets the same score on every run, in any test order, with 1 or 2 torch
threads (in the grader, where references are computed)."""
import json
import os
import subprocess
import sys
from pathlib import Path

from autograder.grading import Grader
from tests.grade_driver import outcomes

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "submissions"
SUBMISSIONS = [EXAMPLES / "correct", EXAMPLES / "partial.zip"]   # full marks, and about half

FRESH_RUN = """
import json, sys, torch
from autograder.grading import Grader
from tests.grade_driver import outcomes
with Grader("M2") as grader:
    torch.set_num_threads(int(sys.argv[1]))   # after the Grader, which sets 1
    print(json.dumps(outcomes(grader.grade([__import__("pathlib").Path(p) for p in sys.argv[2:]]))))
"""


def fresh_run(threads: int, shuffle_seed: int | None = None) -> list:
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{Path(__file__).parent}"}
    if shuffle_seed is not None:
        env.update(PYTEST_PLUGINS="shuffled_order", DLEXAM_SHUFFLE_SEED=str(shuffle_seed))
    done = subprocess.run([sys.executable, "-c", FRESH_RUN, str(threads), *map(str, SUBMISSIONS)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_scores_do_not_depend_on_the_run_the_test_order_or_the_thread_count():
    with Grader("M2") as grader:
        first = json.loads(json.dumps(outcomes(grader.grade(SUBMISSIONS))))
        again = json.loads(json.dumps(outcomes(grader.grade(SUBMISSIONS))))
    assert first[0][1] == 35 and 0 < first[1][1] < 35
    assert again == first
    assert fresh_run(threads=1, shuffle_seed=20240607) == first
    assert fresh_run(threads=2, shuffle_seed=7) == first
