"""Grade submissions and write what the scores are made of as JSON (run as root or not).

    python tests/grade_driver.py OUT.json PATH...

Used by the kit's tests to compare a run as root with one as an unprivileged user."""
import json
import sys
from pathlib import Path

from autograder.grading import Grader


def outcomes(scores) -> list:
    """Each submission's total and every test's outcome (messages may differ in paths)."""
    return [[s.submission, round(s.total, 9), sorted([q.id, t.name, t.passed]
                                                     for q in s.questions for t in q.tests)]
            for s in scores]


if __name__ == "__main__":
    with Grader("M2") as grader:
        scores = grader.grade([Path(p) for p in sys.argv[2:]])
    Path(sys.argv[1]).write_text(json.dumps({"outcomes": outcomes(scores),
                                             "warnings": scores[0].warnings}))
