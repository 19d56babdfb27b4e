"""Grade submissions: intake, the hidden suites under the grading plugin, then scoring.

    scores = grade([Path("examples/submissions/correct")], track="M2")

One pytest session grades every submission given (collection and references once, not once
per submission); student code runs only in children of one warm parent.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path
from typing import Callable

import pytest

from autograder import intake, rubric as rubric_module
from autograder.isolation.sandbox import Limits, WarmParent, protections, sandbox_user
from autograder.plugin import SUITES_DIR, GradingPlugin
from autograder.scoring import SubmissionScore, score_submission


class SuiteError(RuntimeError):
    """The hidden suites themselves are broken (a collection error): nobody can be graded."""


def missing_protections() -> list[str]:
    return [name for name, available in protections().items() if not available]


class Grader:
    """A warm grading process: one warm parent for every submission it grades.

    Keep one Grader per worker: the suites are imported once, cached references stay cached,
    and the warm parent (numpy and torch imported) is started once.
    """

    def __init__(self, track: str = "M2", limits: Limits = Limits(), suites: Path = SUITES_DIR,
                 sandbox_uid: int | None = None, shuffle_seed: int | None = None):
        # The warm parent first: it imports numpy and torch in its own process while this one
        # imports torch and collects the suites (a cold start pays one torch import, not two).
        self.parent = WarmParent(limits, drop_to=sandbox_user(sandbox_uid))
        import torch

        torch.set_num_threads(1)   # small tensors: threads only add spin-waits and variance
        self.shuffle_seed = shuffle_seed   # see GradingPlugin
        self.track = track
        self.suites = Path(suites)
        self.rubric = rubric_module.load()
        missing = missing_protections()
        why = "" if os.geteuid() == 0 else " (grader not running as root)"
        self.warnings = [f"sandbox protections not available here{why}: "
                         f"{', '.join(missing)}"] if missing else []

    def grade(self, paths: list[Path],
              on_graded: Callable[[int, SubmissionScore], None] | None = None) -> list[SubmissionScore]:
        """Grade each folder or zip in `paths`; results come back in the same order.

        `on_graded(index, score)` is called as soon as paths[index] is graded.
        """
        rubric, track = self.rubric, self.track
        modules = sorted({m for q in rubric.questions_in(track) for m in q.modules},
                         key=rubric.modules.index)
        with tempfile.TemporaryDirectory(prefix="dlexam-scratch-") as scratch:
            os.chmod(scratch, 0o711)   # sandbox users reach their own folder, cannot list others
            subs = [intake.take(Path(p), Path(scratch) / f"sub{i}", modules)
                    for i, p in enumerate(paths)]
            scores: list[SubmissionScore | None] = [None] * len(subs)

            def finish(index: int) -> None:
                scores[index] = score_submission(
                    rubric, track, subs[index].id, plugin.results[index], plugin.graded_questions,
                    subs[index].uses_torch, subs[index].problems, self.warnings)
                if on_graded:
                    on_graded(index, scores[index])

            plugin = GradingPlugin(rubric, track, subs, self.parent, on_done=finish,
                                   shuffle_seed=self.shuffle_seed)
            # Plugins a grading run does not need cost per test (capture, logging, warnings) or
            # per run (the unraisable-exception plugin's repeated gc.collect over torch's heap);
            # student output never reaches this process anyway.
            args = [str(self.suites), "-p", "no:terminal", "-p", "no:cacheprovider", "-s",
                    "-p", "no:randomly", "-p", "no:logging", "-p", "no:warnings",
                    "-p", "no:unraisableexception", "-p", "no:threadexception",
                    "--rootdir", str(self.suites), "-c", str(self.suites / "pytest.ini")]
            with contextlib.redirect_stdout(io.StringIO()) as log:
                exit_code = pytest.main(args, plugins=[plugin])
            if plugin.collection_errors or exit_code not in (0, 1, 5):
                raise SuiteError("the hidden suites could not run (exit code %s):\n%s\n%s" % (
                    exit_code, "\n".join(plugin.collection_errors), log.getvalue()[-3000:]))
            for index, score in enumerate(scores):   # submissions with no test item at all
                if score is None:
                    finish(index)
            return scores

    def close(self) -> None:
        self.parent.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def grade(paths: list[Path], track: str = "M2", limits: Limits = Limits(),
          on_graded: Callable[[int, SubmissionScore], None] | None = None,
          suites: Path = SUITES_DIR) -> list[SubmissionScore]:
    """Grade each folder or zip in `paths` on `track` with a Grader of its own."""
    with Grader(track, limits, suites) as grader:
        return grader.grade(paths, on_graded)
