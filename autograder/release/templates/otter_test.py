"""Otter test file of Q$question, $title ($points points): made by `dlexam autograder`.

dlexam's otter plugin graded the submission with the kit's hidden suites before otter read this
file, and wrote one case per hidden test to $cases_path. A case passes when its
hidden test passed; the points of the passed cases add up to dlexam's score for Q$question.
"""
import json
from pathlib import Path

from otter.test_files import test_case

OK_FORMAT = False
name = $name
points = None


def _outcome(passed, message):
    def check():
        assert passed, message
    return check


for _number, _case in enumerate(json.loads(Path("$cases_path").read_text(
        encoding="utf-8"))["$question"], start=1):
    globals()[f"case_{_number}"] = test_case(name=_case["name"], points=_case["points"], hidden=True)(
        _outcome(_case["passed"], _case["message"]))
