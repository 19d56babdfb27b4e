"""The pytest plugin that turns the hidden suites into a grader.

Hidden tests are plain pytest functions that declare their question with a marker and ask for
the `submission` fixture:

    @pytest.mark.question("1.1", weight=2)
    def test_linear_matches_nn_linear(submission): ...

The plugin parametrizes every such test over the submissions being graded, orders the items
submission by submission, runs each question's tests against a fresh sandboxed child, and
records one TestResult per item. A marker that names no rubric question, or a test without a
marker, is a collection error. A test's weight is shared among its parametrized cases.
"""
from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Callable

import pytest

from autograder.checks import describe_call
from autograder.intake import Submission
from autograder.isolation.sandbox import Child, StudentCodeError, WarmParent, printable
from autograder.rubric import Rubric
from autograder.scoring import TestResult

SUITES_DIR = Path(__file__).with_name("suites")
MESSAGE_LIMIT = 1500


class SubmissionHandle:
    """What a hidden test holds as `submission`: calls into the student's code, in a child.

    One child serves the tests of one question, then is killed: no state leaks between
    questions. After a call times out, later calls of the same function fail at once. A module
    whose import fails, hangs or ends the process does so in every fresh child: each child
    imports it alone first, and after one such failure the module's later tests fail at once.
    """

    def __init__(self, sub: Submission, parent: WarmParent):
        self.sub = sub
        self.parent = parent
        self.question: str | None = None
        self._child: Child | None = None
        self._child_question: str | None = None
        self._imported: set[str] = set()        # modules the current child has imported
        self._hung: dict[str, str] = {}
        self._broken: dict[str, StudentCodeError] = {}   # module -> how its import failed

    def _child_for_question(self) -> Child:
        if self._child is None or not self._child.alive or self._child_question != self.question:
            self.close()
            self._child = self.parent.spawn(self.sub.workdir, label=self.sub.id)
            self._child_question = self.question
            self._imported = set()
        return self._child

    def _child_with(self, module: str) -> Child:
        """The question's child, with `module` imported."""
        if module in self._broken:
            error = self._broken[module]
            raise StudentCodeError(error.kind, f"not run: {error}")
        child = self._child_for_question()
        if module not in self._imported:
            try:
                child.call("import_module", module)
            except StudentCodeError as error:
                if error.kind in ("import", "timeout", "died"):
                    self._broken[module] = error
                raise
            self._imported.add(module)
        return child

    def close(self) -> None:
        if self._child is not None:
            self._child.close()
            self._child = None

    def probe(self, name: str, *args, module: str, timeout: float | None = None, **kwargs):
        """Run the trusted probe `name` in the child; `module` is the student module it drives."""
        # the student function a probe drives is its second argument (after the module)
        key = f"{module}:{args[1] if len(args) > 1 and type(args[1]) is str else name}"
        if module not in self.sub.modules:
            raise StudentCodeError("missing", f"{module}.py was not submitted")
        if key in self._hung:
            raise StudentCodeError("timeout", self._hung[key])
        try:
            return self._child_with(module).call(name, *args, timeout=timeout, **kwargs)
        except StudentCodeError as error:
            if error.kind == "timeout":
                self._hung[key] = f"not run: an earlier call timed out ({error})"
            raise

    def _call(self, probe: str, module: str, function: str, args, kwargs, timeout=None):
        """The probe's answer; a failure of the student's code names the call it happened in
        (the one form of messages: what was checked, on what input, then what went wrong)."""
        try:
            return self.probe(probe, module, function, *args, module=module, timeout=timeout,
                              **kwargs)
        except StudentCodeError as error:
            if error.kind not in ("raised", "timeout", "died", "unsupported"):
                raise
            raise StudentCodeError(error.kind, f"{describe_call(function, args, kwargs)}: "
                                               f"{error}") from None

    def call(self, module: str, function: str, *args, timeout: float | None = None, **kwargs):
        """The result of the student's module.function(*args, **kwargs)."""
        return self._call("call", module, function, args, kwargs, timeout)

    def call_strict(self, module: str, function: str, *args, timeout: float | None = None, **kwargs):
        """Like call(), with numpy's overflow, invalid and divide warnings raised as errors."""
        return self._call("call_strict", module, function, args, kwargs, timeout)

    def call_with_inputs(self, module: str, function: str, *args, **kwargs):
        """(result, args, kwargs) as they are after the call, to check inputs were not modified."""
        return tuple(self._call("call_with_inputs", module, function, args, kwargs))


class GradingPlugin:
    """Runs the hidden suites over `submissions`; results land in `self.results`."""

    def __init__(self, rubric: Rubric, track: str, submissions: list[Submission],
                 parent: WarmParent, on_done: Callable[[int], None] | None = None,
                 shuffle_seed: int | None = None):
        """`shuffle_seed`: run each submission's tests in an order shuffled with this seed
        (the kit's determinism tests: a score must not depend on test order); see _shuffled."""
        self.shuffle_seed = shuffle_seed
        self.rubric = rubric
        self.track = track
        self.submissions = submissions
        self.handles = [SubmissionHandle(s, parent) for s in submissions]
        self.results: list[list[TestResult]] = [[] for _ in submissions]
        self.graded_questions: set[str] = set()
        self.collection_errors: list[str] = []
        self.on_done = on_done
        self._weights: dict[str, float] = {}
        self._last_item: dict[int, str] = {}

    # --- collection -------------------------------------------------------------------
    def pytest_configure(self, config):
        config.addinivalue_line("markers", "question(id, weight=1): the exam question a test grades")

    def pytest_generate_tests(self, metafunc):
        marker = metafunc.definition.get_closest_marker("question")
        if marker is None:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: no @pytest.mark.question")
        qid = marker.args[0] if marker.args else None
        if qid not in self.rubric.ids:
            raise ValueError(f"{metafunc.definition.nodeid}: question {qid!r} is not in the "
                             f"rubric ({', '.join(self.rubric.ids)})")
        if "submission" in metafunc.fixturenames:
            metafunc.parametrize("submission", range(len(self.submissions)), indirect=True,
                                 ids=[f"sub#{i}" for i in range(len(self.submissions))])

    def pytest_collection_modifyitems(self, session, config, items):
        in_track = {q.id for q in self.rubric.questions_in(self.track)}
        kept, dropped = [], []
        for item in items:
            (kept if _question(item) in in_track else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        self.graded_questions = {_question(item) for item in kept}
        cases = Counter((_submission_index(item), item.function.__qualname__, item.module.__name__)
                        for item in kept)
        for item in kept:
            marker = item.get_closest_marker("question")
            weight = float(marker.kwargs.get("weight", 1))
            n = cases[(_submission_index(item), item.function.__qualname__, item.module.__name__)]
            self._weights[item.nodeid] = weight / n
        if self.shuffle_seed is not None:
            kept[:] = _shuffled(kept, random.Random(self.shuffle_seed))
        kept.sort(key=_submission_index)   # stable: suite order within a submission
        for item in kept:
            self._last_item[_submission_index(item)] = item.nodeid
        items[:] = kept

    def pytest_collectreport(self, report):
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {report.longreprtext[-2000:]}")

    # --- the fixture --------------------------------------------------------------------
    @pytest.fixture
    def submission(self, request) -> SubmissionHandle:
        handle = self.handles[request.param]
        handle.question = _question(request.node)
        return handle

    # --- results ----------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        """Build the report here: pytest's own formats every failure's traceback with source
        (an AST parse of the suite file per frame), which grading never shows and which cost
        seconds per failing submission."""
        excinfo = call.excinfo
        if excinfo is None:
            outcome, longrepr = "passed", None
        elif excinfo.errisinstance(pytest.skip.Exception):
            outcome, longrepr = "skipped", (str(item.path), 0, str(excinfo.value))
        else:
            outcome, longrepr = "failed", _message(excinfo)
        report = pytest.TestReport(item.nodeid, item.location, {}, outcome, longrepr, call.when,
                                   [], call.duration, call.start, call.stop)
        if (call.when == "call" and outcome != "skipped") or (call.when == "setup" and report.failed):
            index = _submission_index(item)
            self.results[index].append(TestResult(
                _question(item), _test_name(item), self._weights[item.nodeid],
                report.passed, longrepr or ""))
        if call.when == "teardown" and self._last_item.get(_submission_index(item)) == item.nodeid:
            index = _submission_index(item)
            self.handles[index].close()
            if self.on_done:
                self.on_done(index)
        return report


def _shuffled(items: list, rng: random.Random) -> list:
    """Questions in a random order, each question's tests in a random order; the tests of a
    question stay together, so that one child still serves a whole question."""
    blocks: dict = {}
    for item in items:
        blocks.setdefault((_submission_index(item), _question(item)), []).append(item)
    order = list(blocks.values())
    rng.shuffle(order)
    for block in order:
        rng.shuffle(block)
    return [item for block in order for item in block]


def _question(item) -> str:
    return item.get_closest_marker("question").args[0]


def _submission_index(item) -> int:
    return item.callspec.params.get("submission", -1) if hasattr(item, "callspec") else -1


def _test_name(item) -> str:
    """The test's name without the submission: 'test_mlp.py::test_linear[case1]'."""
    name = item.name.replace("[sub#%d]" % _submission_index(item), "")
    for sep in ("-sub#%d" % _submission_index(item), "sub#%d-" % _submission_index(item)):
        name = name.replace(sep, "")
    return f"{Path(item.fspath).name}::{name}"


def _message(excinfo) -> str:
    if excinfo is None:
        return "failed"
    error = excinfo.value
    if isinstance(error, StudentCodeError):
        text = str(error)
    elif isinstance(error, AssertionError):
        text = str(error) or "assertion failed"
    else:
        text = f"unexpected result ({type(error).__name__}: {error})"
    text = printable(text)   # messages quote student values: no terminal escapes
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + " ..."
