"""Grade submissions: intake, the hidden suites under the grading plugin, then scoring.

    scores = grade([Path("examples/submissions/correct")], track="M2")

One pytest session grades every submission given (collection and references once, not once
per submission); student code runs only in sandboxed children (isolation/sandbox.py).
"""
from __future__ import annotations

import contextlib
import io
import os
import secrets
import signal
import tempfile
import threading
from pathlib import Path
from typing import Callable

import pytest

from autograder import intake, references, rubric as rubric_module
from autograder.isolation.sandbox import Limits, Sandbox, protections
from autograder.checks import SuiteError
from autograder.plugin import SUITES_DIR, GradingPlugin
from autograder.scoring import SubmissionScore, score_submission

__all__ = ["Grader", "SuiteError", "grade"]

UNSAFE = {
    "own uid": "graded without namespaces (--unsafe-no-sandbox, or a container that refuses them): "
               "student code ran under a uid of its own with resource limits, but could read "
               "whatever any user of this machine can read, and reach the network",
    "none": "graded WITHOUT a sandbox (--unsafe-no-sandbox): student code ran with the grader's "
            "rights and could have read or changed anything the grader can",
}


class Grader:
    """A warm grading process: one sandbox (two warm parents) for every submission it grades.

    Keep one Grader per worker: the suites are imported once, cached references stay cached,
    and the warm parents (numpy; numpy and torch) are started once. `isolate=False` grades
    without namespaces, where the machine refuses them (every result then says so).
    """

    def __init__(self, track: str = "M2", limits: Limits = Limits(), suites: Path = SUITES_DIR,
                 isolate: bool = True):
        # The sandbox first: its warm parents import numpy and torch in their own processes
        # while this one imports torch and collects the suites.
        self.sandbox = Sandbox(limits, isolate, hide=(str(Path(suites).resolve()),))
        import torch

        torch.set_num_threads(1)   # small tensors: threads only add spin-waits and variance
        self.track = track
        self.suites = Path(suites)
        self.rubric = rubric_module.load()
        missing = [name for name, on in protections(isolate).items() if not on]
        self.warnings = [UNSAFE[self.sandbox.mode]] if not isolate else (
            [f"sandbox protections not available here: {', '.join(missing)}"] if missing else [])

    def grade(self, paths: list[Path],
              on_graded: Callable[[int, SubmissionScore], None] | None = None) -> list[SubmissionScore]:
        """Grade each folder or zip in `paths`; results come back in the same order.

        `on_graded(index, score)` is called as soon as paths[index] is graded.
        """
        rubric, track = self.rubric, self.track
        modules = sorted({m for q in rubric.questions_in(track) for m in q.modules},
                         key=rubric.modules.index)
        with _terminated_as_exit(), tempfile.TemporaryDirectory(prefix="dlexam-scratch-") as scratch:
            # Children without namespaces (--unsafe-no-sandbox) reach their own folder through
            # the scratch folder, which others may enter but not list: the folders have names
            # no child can guess, so none finds another submission's.
            os.chmod(scratch, 0o711)
            subs = [intake.take(Path(p), Path(scratch) / secrets.token_hex(16), modules)
                    for p in paths]
            scores: list[SubmissionScore | None] = [None] * len(subs)

            def finish(index: int) -> None:
                handle = plugin.handles[index]
                printed = {q: [_printed_note(n, self.sandbox.limits.output_bytes)]
                           for q, n in handle.printed.items() if n > self.sandbox.limits.output_bytes}
                scores[index] = score_submission(
                    rubric, track, subs[index].id, plugin.results[index], plugin.graded_questions,
                    subs[index].imports_torch, subs[index].problems, self.warnings, printed,
                    sandbox=self.sandbox.mode)
                if on_graded:
                    on_graded(index, scores[index])

            plugin = GradingPlugin(rubric, track, subs, self.sandbox, on_done=finish)
            # Plugins a grading run does not need cost per test (capture, logging, warnings,
            # assertion rewriting) or per run (the unraisable-exception plugin's repeated
            # gc.collect over torch's heap); student output never reaches this process anyway.
            args = [str(self.suites), "-p", "no:terminal", "-p", "no:cacheprovider", "-s",
                    "-p", "no:randomly", "-p", "no:logging", "-p", "no:warnings",
                    "-p", "no:unraisableexception", "-p", "no:threadexception",
                    "--assert=plain", "--rootdir", str(self.suites),
                    "-c", str(self.suites / "pytest.ini")]
            with contextlib.redirect_stdout(io.StringIO()) as log:
                exit_code = pytest.main(args, plugins=[plugin])
            if plugin.collection_errors or plugin.suite_errors or exit_code not in (0, 1, 5):
                raise SuiteError("the hidden suites could not run (exit code %s):\n%s\n%s" % (
                    exit_code, "\n".join(plugin.collection_errors + plugin.suite_errors),
                    log.getvalue()[-3000:]))
            for index, score in enumerate(scores):   # submissions with no test item at all
                if score is None:
                    finish(index)
            return scores

    def close(self) -> None:
        self.sandbox.close()
        references.save()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _printed_note(printed: int, kept: int) -> str:
    return (f"your code printed {printed:,} bytes while this question was graded: the first "
            f"{kept:,} were kept, the rest dropped (printing never costs points)")


@contextlib.contextmanager
def _terminated_as_exit():
    """While grading, SIGTERM ends the process like Ctrl-C does (SystemExit instead of
    KeyboardInterrupt), so that the scratch folder and the children are cleaned up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_now(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def grade(paths: list[Path], track: str = "M2", limits: Limits = Limits(),
          on_graded: Callable[[int, SubmissionScore], None] | None = None,
          suites: Path = SUITES_DIR, isolate: bool = True) -> list[SubmissionScore]:
    """Grade each folder or zip in `paths` on `track` with a Grader of its own."""
    with Grader(track, limits, suites, isolate) as grader:
        return grader.grade(paths, on_graded)
