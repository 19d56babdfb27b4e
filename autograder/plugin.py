"""The pytest plugin that turns the hidden suites into a grader.

Hidden tests are plain pytest functions that declare their question with a marker and ask for
the `submission` fixture:

    @pytest.mark.question("1.1", weight=2)
    def test_linear_matches_nn_linear(submission): ...

The plugin parametrizes every such test over the submissions being graded, orders the items
submission by submission, runs each question's tests against a fresh sandboxed child, and
records one TestResult per item. It checks what it relies on at collection: a test without the
marker, with a question the rubric does not have, with a marker argument other than `weight`,
with a weight that is not a positive number, or without the `submission` fixture is a
collection error. A test's weight is shared among its parametrized cases.

While a test of question Q runs, every student function of ANOTHER question that has a trusted
stand-in (autograder/standins.py) is replaced by it in the child: a bug is charged to the question
that owns it. A test in which the student's code raised after going through a stand-in runs
once more with the student's own functions, and that run decides (a helper of the student's
own convention); a run that gave an answer is final, so no submission gets two guesses.
"""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Callable

import pytest

from autograder.checks import Mismatch, SuiteError, describe_call
from autograder.intake import Submission
from autograder.failures import (CALL_FAILURES, StudentCodeError, failure_message, in_call,
                                 modified_inputs)
from autograder.isolation.sandbox import Child, Limits, Sandbox, SandboxError
from autograder import standins
from autograder.rubric import Rubric
from autograder.scoring import TestResult

SUITES_DIR = Path(__file__).with_name("suites")


class SubmissionHandle:
    """What a hidden test holds as `submission`: calls into the student's code, in a child.

    One child serves the tests of one question, then is killed: no state leaks between
    questions. A call has `limits.call_seconds`; the calls of one question share
    `limits.question_seconds`, and all calls of the submission `limits.submission_seconds`
    (wall clock, spawning and importing included): past a budget, calls fail at once. A module
    whose import fails, hangs or ends the process does so in every fresh child: each child
    imports it alone first, and after one such failure the module's later tests fail at once.
    """

    def __init__(self, sub: Submission, sandbox: Sandbox, stand_ins: dict[str, dict[str, dict]],
                 torch_modules: set[str]):
        self.sub = sub
        self.sandbox = sandbox
        self.limits: Limits = sandbox.limits
        self.stand_ins_of = stand_ins        # question -> its stand-ins, as a child is told
        self.torch_modules = torch_modules   # modules whose children have torch (Part 5)
        self.printed: Counter = Counter()    # question -> bytes its children printed
        self.question: str | None = None
        self.use_stand_ins = True
        self.used_stand_ins: set[str] = set()   # by the calls of the current test
        self._child: Child | None = None
        self._child_question: str | None = None
        self._imported: set[str] = set()        # modules the current child has imported
        self._broken: dict[str, StudentCodeError] = {}   # module -> how its import failed
        self._spent: Counter = Counter()        # question -> seconds; "" -> the whole submission

    def start_test(self, question: str, use_stand_ins: bool = True) -> None:
        if question != self.question:
            self.close()
        self.question = question
        self.use_stand_ins = use_stand_ins
        self.used_stand_ins = set()

    def _child_for_question(self, module: str) -> Child:
        if self._child is None or not self._child.alive or self._child_question != self.question:
            self.close()
            self._child = self.sandbox.spawn(self.sub.workdir, label=self.sub.id,
                                             torch=module in self.torch_modules,
                                             stand_ins=self.stand_ins_of.get(self.question, {}))
            self._child_question = self.question
            self._imported = set()
        return self._child

    def _child_with(self, module: str) -> Child:
        """The question's child, with `module` imported."""
        if module in self._broken:
            error = self._broken[module]
            raise StudentCodeError(error.kind, f"not run: {error}", error.type)
        child = self._child_for_question(module)
        if module not in self._imported:
            try:
                child.call("import_module", module, timeout=self._time_left())
            except StudentCodeError as error:
                if error.kind in ("import", "timeout", "died"):
                    self._broken[module] = error
                raise
            self._imported.add(module)
        return child

    def _time_left(self) -> float:
        """Seconds the next call may take: the call limit, or what is left of a budget."""
        left = min(self.limits.call_seconds, self._budget_left())
        if left <= 0:
            which = (f"Q{self.question}'s {self.limits.question_seconds:g} s"
                     if self._spent[self.question] >= self.limits.question_seconds
                     else f"the submission's {self.limits.submission_seconds:g} s")
            raise StudentCodeError("budget", f"not run: {which} time budget is used up")
        return left

    def close(self) -> None:
        """End the current question's child (its processes, files and IPC objects go)."""
        if self._child is not None:
            self._child.close()
            self.printed[self._child_question] += self._child.printed
            self._child = None

    def finish(self) -> None:
        """The submission is graded: its sandboxes go too."""
        self.close()
        self.sandbox.release(self.sub.workdir)

    def probe(self, name: str, *args, module: str, **kwargs):
        """Run the trusted probe `name` in the child; `module` is the student module it drives."""
        if module not in self.sub.modules:
            raise StudentCodeError("missing", f"{module}.py was not submitted")
        started = time.monotonic()
        try:
            child = self._child_with(module)
            try:
                return child.call(name, *args, timeout=self._time_left(),
                                  stand_ins=self.use_stand_ins, **kwargs)
            finally:
                self.used_stand_ins.update(child.used_stand_ins)
        except StudentCodeError as error:
            if error.kind == "timeout" and self._budget_left(time.monotonic() - started) <= 0:
                raise StudentCodeError("budget", f"{error}; that used up what was left of the "
                                                 f"time budget") from None
            raise
        finally:
            elapsed = time.monotonic() - started
            self._spent[self.question] += elapsed
            self._spent[""] += elapsed

    def _budget_left(self, pending: float = 0.0) -> float:
        """Seconds left of the tighter budget, `pending` seconds not yet counted."""
        return min(self.limits.question_seconds - self._spent[self.question],
                   self.limits.submission_seconds - self._spent[""]) - pending

    def checked_probe(self, name: str, *args, module: str, where: str, **kwargs) -> dict:
        """Run the probe `name`, one that calls the student through probes/base.call_checked
        and answers {"value", "modified", ...}: a failure of the student's code names the call
        it happened in (`where`: the one form of messages, what was checked on what input,
        then what went wrong), and an input the call modified is a failure of its own."""
        try:
            reply = self.probe(name, *args, module=module, **kwargs)
        except StudentCodeError as error:
            if error.kind not in CALL_FAILURES:
                raise
            raise in_call(error, where) from None
        modified = reply.get("modified") if type(reply) is dict else None
        if type(modified) is not list or not all(type(m) is str for m in modified):
            raise StudentCodeError("protocol", f"{where}: unreadable answer from the child")
        if modified:
            raise modified_inputs(where, modified)
        return reply

    def _call(self, probe: str, module: str, function: str, args, kwargs, before=()):
        """The student's result of module.function(*args, **kwargs) through a call_checked
        probe; `before`: the probe's own arguments before the student's (a seed)."""
        return self.checked_probe(probe, module, function, *before, *args, module=module,
                                  where=describe_call(function, args, kwargs), **kwargs)["value"]

    def call(self, module: str, function: str, *args, **kwargs):
        """The result of the student's module.function(*args, **kwargs); Mismatch when the call
        changed one of its inputs."""
        return self._call("call", module, function, args, kwargs)

    def call_strict(self, module: str, function: str, *args, **kwargs):
        """Like call(), with numpy's overflow, invalid and divide warnings raised as errors."""
        return self._call("call_strict", module, function, args, kwargs)

    def call_seeded(self, module: str, function: str, seed: int, *args, **kwargs):
        """Like call(), for a function that samples: module.function(args[0], args[1], rng,
        *args[2:], **kwargs), the contract's place of `rng`, with rng =
        numpy.random.default_rng(seed) made in the child (a Generator cannot cross)."""
        return self._call("call_seeded", module, function, args, kwargs, before=(seed,))


class GradingPlugin:
    """Runs the hidden suites over `submissions`; results land in `self.results`."""

    def __init__(self, rubric: Rubric, track: str, submissions: list[Submission],
                 sandbox: Sandbox, on_done: Callable[[int], None] | None = None):
        self.rubric = rubric
        self.track = track
        self.submissions = submissions
        # A question's tests get the stand-ins of the other questions' functions only.
        stand_ins = {q.id: standins.specs(n for n in standins.STAND_INS if n not in q.functions)
                     for q in rubric.questions}
        torch_modules = {m for m in rubric.modules if not rubric.module_part(m).numpy_only
                         or rubric.torch_in_numpy_part == "warn"}
        self.handles = [SubmissionHandle(s, sandbox, stand_ins, torch_modules)
                        for s in submissions]
        self.results: list[list[TestResult]] = [[] for _ in submissions]
        self.graded_questions: set[str] = set()
        self.collection_errors: list[str] = []
        self.suite_errors: list[str] = []
        self.on_done = on_done
        self._weights: dict[str, float] = {}
        self._last_item: dict[int, str] = {}
        self._notes: dict[str, str] = {}

    # --- collection -------------------------------------------------------------------
    def pytest_configure(self, config):
        config.addinivalue_line("markers", "question(id, weight=1): the exam question a test grades")

    def pytest_generate_tests(self, metafunc):
        where = metafunc.definition.nodeid
        marker = metafunc.definition.get_closest_marker("question")
        if marker is None:
            raise pytest.UsageError(f"{where}: no @pytest.mark.question")
        qid = marker.args[0] if len(marker.args) == 1 else None
        if qid not in self.rubric.ids:
            raise pytest.UsageError(f"{where}: question {qid!r} is not in the rubric "
                                    f"({', '.join(self.rubric.ids)}); write question(\"1.1\")")
        unknown = set(marker.kwargs) - {"weight"}
        weight = marker.kwargs.get("weight", 1)
        if unknown:
            raise pytest.UsageError(f"{where}: unknown marker argument {', '.join(sorted(unknown))}"
                                    f" (question(id, weight=...) takes only weight)")
        if type(weight) not in (int, float) or not weight > 0:
            raise pytest.UsageError(f"{where}: weight must be a positive number, got {weight!r}")
        if "submission" not in metafunc.fixturenames:
            raise pytest.UsageError(f"{where}: a hidden test must take the `submission` fixture")
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
            weight = float(item.get_closest_marker("question").kwargs.get("weight", 1))
            n = cases[(_submission_index(item), item.function.__qualname__, item.module.__name__)]
            self._weights[item.nodeid] = weight / n
        kept.sort(key=_submission_index)   # stable: suite order within a submission
        items[:] = kept

    def pytest_collection_finish(self, session):
        """The last test of each submission, in the final order (other plugins may reorder
        the tests of a submission, keeping each question's tests together)."""
        for item in session.items:
            self._last_item[_submission_index(item)] = item.nodeid

    def pytest_collectreport(self, report):
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {report.longreprtext[-2000:]}")

    # --- the fixture --------------------------------------------------------------------
    @pytest.fixture
    def submission(self, request) -> SubmissionHandle:
        return self.handles[request.param]

    # --- running a test -------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem):
        """Run the test with stand-ins. When the student's code raised in a call that used
        one (a helper of its own that returns another shape, say), the test runs again with the
        student's own functions, and that run decides. A run that gave an answer, right or
        wrong, is final: a submission that tells the runs apart gains no second guess, since
        asking for the second run means giving no answer in the first."""
        handle = self.handles[_submission_index(pyfuncitem)]
        question = _question(pyfuncitem)
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        handle.start_test(question)
        try:
            pyfuncitem.obj(**args)
        except (Mismatch, StudentCodeError) as error:
            used = sorted(handle.used_stand_ins)
            if used and getattr(error, "kind", "") == "raised":
                self._rerun_with_own_functions(pyfuncitem, handle, question, args, used)
                return True
            self._note_stand_ins(pyfuncitem, used, "graded there")
            raise
        self._note_stand_ins(pyfuncitem, sorted(handle.used_stand_ins), "graded there")
        return True

    def _rerun_with_own_functions(self, pyfuncitem, handle, question, args, used) -> None:
        handle.start_test(question, use_stand_ins=False)
        try:
            pyfuncitem.obj(**args)
        except (Mismatch, StudentCodeError):
            handle.start_test(question)
            self._note_stand_ins(pyfuncitem, used, "your code raised with it, and failed with "
                                                   "yours too")
            raise
        self._notes[pyfuncitem.nodeid] = (
            f"passed with your own {_names(used)} (your code raised with the kit's)")

    def _note_stand_ins(self, pyfuncitem, used: list[str], outcome: str) -> None:
        if used:
            self._notes[pyfuncitem.nodeid] = (
                f"graded with the kit's own {_names(used)} in place of yours "
                f"({_belong(self.rubric, used)}, {outcome})")

    # --- results ----------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        """Build the report here: pytest's own formats every failure's traceback with source
        (an AST parse of the suite file per frame), which grading never shows and which cost
        seconds per failing submission."""
        excinfo = call.excinfo
        error_type = ""
        if excinfo is None:
            outcome, longrepr = "passed", None
        elif excinfo.errisinstance(pytest.skip.Exception):
            outcome, longrepr = "skipped", (str(item.path), 0, str(excinfo.value))
        elif _is_suite_error(excinfo.value):
            outcome, longrepr = "failed", f"suite error: {excinfo.exconly()[-2000:]}"
            self.suite_errors.append(f"{item.nodeid}: {excinfo.exconly()[-2000:]}")
        else:
            outcome, longrepr = "failed", failure_message(excinfo.value, _question(item))
            error_type = getattr(excinfo.value, "type", "")
        report = pytest.TestReport(item.nodeid, item.location, {}, outcome, longrepr, call.when,
                                   [], call.duration, call.start, call.stop)
        if (call.when == "call" and outcome != "skipped") or (call.when == "setup" and report.failed):
            index = _submission_index(item)
            self.results[index].append(TestResult(
                _question(item), _test_name(item), self._weights[item.nodeid],
                report.passed, longrepr or "", self._notes.pop(item.nodeid, ""), error_type))
        if call.when == "teardown" and self._last_item.get(_submission_index(item)) == item.nodeid:
            index = _submission_index(item)
            self.handles[index].finish()
            if self.on_done:
                self.on_done(index)
        return report


def _is_suite_error(error: BaseException) -> bool:
    """A failure of the grader's own making: an explicit SuiteError, a bare `assert` in suite
    code (student failures are Mismatch, from checks.py, or StudentCodeError), or the sandbox's
    machinery failing (SandboxError)."""
    return isinstance(error, (SuiteError, SandboxError)) or (
        isinstance(error, AssertionError) and not isinstance(error, Mismatch))


def _names(functions: list[str]) -> str:
    return ", ".join(f.split(".")[1] for f in functions)


def _belong(rubric: Rubric, functions: list[str]) -> str:
    owners = ", ".join(dict.fromkeys(f"Q{rubric.question_of(f).id}" for f in functions))
    return f"{'it belongs' if len(functions) == 1 else 'they belong'} to {owners}"


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
