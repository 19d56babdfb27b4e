"""The otter-grader plugin that grades a submission with dlexam under `otter run`, `otter grade`
and Gradescope.

Otter calls `before_grading` in its own process, after it has put the submission, the entry
notebook and tests/ in the submission folder and before it starts the Jupyter kernel that
executes the notebook and reads the test files. The plugin moves every submitted file out of
that folder (so nothing a student sends can shadow a module the kernel imports), grades the
moved files with the kit's own pipeline (intake, sandboxed children, hidden suites, rubric) and
writes `<autograder dir>/dlexam/otter-cases.json`: for each question, one otter test case per
hidden test. The test file of each question (tests/) reads its cases from there; otter adds up
the points of the passed cases. `after_grading` puts dlexam's totals, problems and warnings in
the `output` of results.json.
"""
from __future__ import annotations

import json
from pathlib import Path

from otter.plugins import AbstractOtterPlugin

from autograder.reports import gradescope
from autograder.scoring import SubmissionScore

ENTRY_NOTEBOOK = "dlexam-entry.ipynb"
WORK_DIR = "dlexam"                  # beside the submission folder, in otter's autograder folder
CASES_FILE = "otter-cases.json"
OTTERS_OWN = {ENTRY_NOTEBOOK, "tests", "__init__.py"}   # what otter put in the submission folder


def otter_cases(score: SubmissionScore) -> dict[str, list[dict]]:
    """{question id: [{"name", "points", "passed", "message"}, ...]}, one case per hidden test.

    The passed cases share the question's score and the failed cases the points it lost, each in
    proportion to its test's weight: points x weight / total weight, but carrying dlexam's
    rounding, so the points of the passed cases add up to dlexam's score for the question (to
    float precision) and all cases to its maximum. A question scored 0 by the numpy-only rule
    fails every case with the rule's note; a question without hidden tests is one failed case.
    """
    cases = {}
    for q in score.questions:
        if not q.tests:
            cases[q.id] = [{"name": f"Q{q.id}", "points": q.max, "passed": False,
                            "message": "; ".join(q.notes) or q.status}]
            continue
        counted = q.status == "graded"
        passed_weight = sum(t.weight for t in q.tests if t.passed and counted)
        failed_weight = sum(t.weight for t in q.tests if not (t.passed and counted))
        cases[q.id] = []
        for t in q.tests:
            if t.passed and counted:
                case = {"points": q.points * t.weight / passed_weight, "passed": True, "message": ""}
            else:
                why = t.message if not t.passed else "; ".join(q.notes)   # passed, but zeroed
                case = {"points": (q.max - q.points) * t.weight / failed_weight, "passed": False,
                        "message": why or "failed"}
            cases[q.id].append({"name": t.name, **case})
    return cases


def keep_from_children(autograder_dir: Path) -> None:
    """Where the container refuses namespaces (Docker's default seccomp profile refuses them even
    to root), the container is the sandbox, and a root grader's children still run under uids of
    their own: make otter's folder (tests, results) and this kit (its hidden suites) readable by
    root only, so that those children can read neither. One submission per container: nothing
    else is there to protect."""
    import os

    import autograder

    if os.geteuid() == 0:
        for folder in (autograder_dir, Path(autograder.__file__).resolve().parent):
            folder.chmod(0o700)


def stage_submission(submission_dir: Path, staged: Path, keep: set[str]) -> None:
    """Move every entry of `submission_dir` but `keep` into the new folder `staged`."""
    staged.mkdir(parents=True)
    for entry in sorted(submission_dir.iterdir()):
        if entry.name not in keep:
            entry.rename(staged / entry.name)


class DlexamGrading(AbstractOtterPlugin):
    """Grades with dlexam before otter executes anything. Configured in otter_config.json as
    `{"plugins": [{"autograder.release.otter_plugin.DlexamGrading": {"track": "M2"}}]}`."""

    score: SubmissionScore

    def before_grading(self, config) -> None:
        from autograder.grading import grade
        from autograder.isolation.sandbox import why_not_isolated

        submission_dir = Path(self.submission_path).resolve().parent
        work = submission_dir.parent / WORK_DIR
        stage_submission(submission_dir, work / "submission", keep=OTTERS_OWN)
        isolate = why_not_isolated() is None
        if not isolate:
            keep_from_children(submission_dir.parent)
        self.score = grade([work / "submission"], track=self.plugin_config.get("track", "M2"),
                           isolate=isolate)[0]
        (work / CASES_FILE).write_text(json.dumps(otter_cases(self.score)), encoding="utf-8")

    def after_grading(self, results) -> None:
        results.set_output(gradescope.results(self.score)["output"])
