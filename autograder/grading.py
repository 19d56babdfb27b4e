"""Grade submissions: intake, the hidden suites under the grading plugin, then scoring.

    scores = grade([Path("examples/submissions/correct")], track="M2")

One pytest session grades every submission given (collection and references once, not once
per submission); student code runs only in children of one warm parent.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Callable

import pytest

from autograder import intake, rubric as rubric_module
from autograder.isolation.sandbox import Limits, WarmParent, protections
from autograder.plugin import SUITES_DIR, GradingPlugin
from autograder.scoring import SubmissionScore, score_submission


class SuiteError(RuntimeError):
    """The hidden suites themselves are broken (a collection error): nobody can be graded."""


def missing_protections() -> list[str]:
    return [name for name, available in protections().items() if not available]


def grade(paths: list[Path], track: str = "M2", limits: Limits = Limits(),
          on_graded: Callable[[SubmissionScore], None] | None = None,
          suites: Path = SUITES_DIR) -> list[SubmissionScore]:
    """Grade each folder or zip in `paths` on `track`; results come back in the same order."""
    rubric = rubric_module.load()
    modules = sorted({m for q in rubric.questions_in(track) for m in q.modules},
                     key=rubric.modules.index)
    missing = missing_protections()
    warnings = [f"sandbox protections not available here (grader not running as root): "
                f"{', '.join(missing)}"] if missing else []
    with tempfile.TemporaryDirectory(prefix="dlexam-scratch-") as scratch, WarmParent(limits) as parent:
        subs = [intake.take(Path(p), Path(scratch) / f"sub{i}", modules) for i, p in enumerate(paths)]
        scores: list[SubmissionScore | None] = [None] * len(subs)

        def finish(index: int) -> None:
            scores[index] = _score(rubric, track, subs[index], plugin, warnings)
            if on_graded:
                on_graded(scores[index])

        plugin = GradingPlugin(rubric, track, subs, parent, on_done=finish)
        args = [str(suites), "-p", "no:terminal", "-p", "no:cacheprovider", "-p", "no:randomly", "-W", "ignore::pytest.PytestAssertRewriteWarning",
                "--rootdir", str(suites), "-c", str(suites / "pytest.ini")]
        with contextlib.redirect_stdout(io.StringIO()) as log:
            exit_code = pytest.main(args, plugins=[plugin])
        if plugin.collection_errors or exit_code not in (0, 1, 5):
            raise SuiteError("the hidden suites could not run (exit code %s):\n%s\n%s" % (
                exit_code, "\n".join(plugin.collection_errors), log.getvalue()[-3000:]))
        for index, score in enumerate(scores):   # submissions with no test item at all
            if score is None:
                finish(index)
        return scores


def _score(rubric, track, sub: intake.Submission, plugin: GradingPlugin, warnings) -> SubmissionScore:
    index = plugin.submissions.index(sub)
    return score_submission(rubric, track, sub.id, plugin.results[index],
                            plugin.graded_questions, sub.uses_torch, sub.problems, warnings)
