"""The public checks' side of pytest: your modules run as the grader runs them, failures read as
the grader's messages, and an estimate on the exam's point scale ends the output.

- `submission` (a fixture) calls your functions. Parts 1-4 (numpy only) run in a process of
  their own, started by runner.py, where `import torch` gives the grader's stand-in
  (autograder/isolation/torch_stub/): using torch there fails the check with the grader's
  message, and the question scores 0 in the estimate, as it would in the grader. Part 5
  (torch) runs in this process, through the grader's probes (autograder/probes/generative.py).
  Every call passes arrays and dicts read-only and compares the other inputs after the call
  (the grader's probes do): writing into an input is a failure of its own.
- A failed check shows its message only (what was checked, on what input, expected vs got, the
  hint when a known mistake reproduces your result), not pytest's traceback.
- After the checks: a note for each numpy-only module that imports torch (the grader's own
  reading of import statements, autograder/torch_imports.py), then the estimate: each question
  that was checked, its points (points.json) times the weighted share of its checks passed.
"""
from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import queue
import subprocess
import sys
import threading
import traceback
from pathlib import Path

import pytest

from autograder.checks import describe_call
from autograder.failures import (CALL_FAILURES, StudentCodeError, error_from, failure_message,
                                 in_call, modified_inputs)
from autograder.isolation import codec
from autograder.probes import base as probes
from autograder.torch_imports import torch_imports

SUPPORT = Path(__file__).resolve().parent
TESTS = SUPPORT.parent
STUB = SUPPORT / "autograder" / "isolation" / "torch_stub"
CALL_SECONDS = 10.0        # the grader's limit per call
NUMPY_ONLY_ERROR = "TorchNotAllowed"
HIDDEN_SUITES = ("The grader's hidden tests check more cases and edge cases than these public "
                 "checks: your grade can be lower than this estimate.")


class Child:
    """runner.py serving the modules of one folder (yours)."""

    def __init__(self, folder: Path, stub: Path | None):
        self.process = subprocess.Popen(
            [sys.executable, str(SUPPORT / "runner.py"), str(stub or ""), str(folder), str(TESTS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")
        self.replies: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.imported: set[str] = set()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.replies.put(line)
        self.replies.put(None)   # the process ended

    def call(self, probe: str, *args, **kwargs):
        try:
            self.process.stdin.write(json.dumps(codec.encode_value(
                {"probe": probe, "args": list(args), "kwargs": kwargs})) + "\n")
            self.process.stdin.flush()
        except OSError:
            reply = None
        else:
            try:
                reply = self.replies.get(timeout=CALL_SECONDS)
            except queue.Empty:
                self.close()
                raise StudentCodeError("timeout", f"no answer within {CALL_SECONDS:g} s (an "
                                                  f"endless loop, or far too slow)") from None
        if reply is None:
            self.close()
            raise StudentCodeError("died", "the process running your code ended (sys.exit, "
                                           "os._exit, a crash, or a resource limit: memory, CPU "
                                           "time, processes)")
        reply = codec.decode_value(json.loads(reply))
        if "error" in reply:
            raise error_from(reply["error"])
        return reply["ok"]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.alive:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


class Submission:
    """What a public check holds as `submission`: your functions, called as the grader calls
    them (the same methods as the hidden suites' fixture)."""

    def __init__(self, checks: "PublicChecks", folder: Path, question: str):
        self.checks = checks
        self.folder = folder
        self.question = question

    def call(self, module: str, function: str, *args, **kwargs):
        """module.function(*args, **kwargs); Mismatch when the call changed one of its inputs."""
        return self._call("call", module, function, args, kwargs)

    def call_strict(self, module: str, function: str, *args, **kwargs):
        """Like call(), with numpy's overflow, invalid and divide warnings raised as errors."""
        return self._call("call_strict", module, function, args, kwargs)

    def call_seeded(self, module: str, function: str, seed: int, *args, **kwargs):
        """Like call(), for a function that samples: module.function(args[0], args[1], rng,
        *args[2:], **kwargs) with rng = numpy.random.default_rng(seed), made where your module
        runs (a Generator cannot travel)."""
        return self._call("call_seeded", module, function, args, kwargs, before=(seed,))

    def probe(self, name: str, *args, module: str, **kwargs):
        """The probe `name` (the grader's, autograder/probes/, or the public checks' own,
        tests/drivers.py), run where `module` runs: Parts 1-4 in runner.py's process, Part 5
        here, on copies of the arguments so that a change in place cannot reach the next check."""
        if not self.checks.in_this_process(module):
            return self._child(module).call(name, *args, **kwargs)
        importlib.import_module("autograder.probes.generative")    # registers its probes
        sys.modules[module] = self.checks.module_here(self.folder, module)
        args, kwargs = copy.deepcopy((list(args), kwargs))
        try:
            return probes.PROBES[name](*args, **kwargs)
        except (Exception, SystemExit) as error:
            raise _raised_here(error, self.folder) from None

    def checked_probe(self, name: str, *args, module: str, where: str, **kwargs) -> dict:
        """Run the probe `name`, one that calls your function through the grader's
        call_checked and answers {"value", "modified", ...}, as the grader reads it: a failure
        of your code names the call it happened in (`where`), and an input the call changed is
        a failure of its own."""
        try:
            reply = self.probe(name, *args, module=module, **kwargs)
        except StudentCodeError as error:
            if error.kind not in CALL_FAILURES:
                raise
            raise in_call(error, where) from None
        if reply["modified"]:
            raise modified_inputs(where, reply["modified"])
        return reply

    def _call(self, probe: str, module: str, function: str, args, kwargs, before=()):
        """Your module.function(*args, **kwargs) through the grader's call probe `probe` (call,
        call_strict, call_seeded; `before`: its own arguments before yours, a seed)."""
        return self.checked_probe(probe, module, function, *before, *args, module=module,
                                  where=describe_call(function, args, kwargs), **kwargs)["value"]

    def _child(self, module: str) -> Child:
        if not (self.folder / f"{module}.py").exists():
            raise StudentCodeError("missing", f"{module}.py is not in {self.folder}")
        child = self.checks.child(self.folder, module, self.question)
        if module not in child.imported:
            child.call("import_module", module)
            child.imported.add(module)
        return child


def _raised_here(error: BaseException, folder: Path) -> StudentCodeError:
    """An exception of your Part 5 code, described as runner.py describes it."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if Path(f.filename).resolve().parent == folder.resolve()]
    text = f"{type(error).__name__}: {error}"
    if frames:
        text += f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})"
    return StudentCodeError("raised", text, type(error).__name__)


def _pts(x: float) -> str:
    return f"{round(x, 2):g}"


class PublicChecks:
    """The pytest plugin of the public checks (registered by the bundle's conftest.py). `quiet`:
    print no summary (`dlexam check` prints the same estimate as a table)."""

    HIDDEN_SUITES = HIDDEN_SUITES

    def __init__(self, folder: Path):
        self.quiet = False
        self.folder = folder
        self.points = json.loads((folder / "points.json").read_text(encoding="utf-8"))
        self.parts = {p["id"]: p for p in self.points["parts"]}
        self.module_part = {m: p["id"] for p in self.points["parts"] for m in p["modules"]}
        self.children: dict[tuple[Path, str], tuple[str, Child]] = {}
        self.modules_here: dict[tuple[Path, str], object] = {}
        self.weights: dict[str, float] = {}      # test id -> its share of its question
        self.question_of: dict[str, str] = {}
        self.modules_run: set[str] = set()
        self.outcomes: dict[str, list[tuple[float, bool, str]]] = {}   # question -> checks

    # --- where your code runs -----------------------------------------------------------
    def numpy_only(self, module: str) -> bool:
        return self.parts[self.module_part[module]]["numpy_only"]

    def in_this_process(self, module: str) -> bool:
        return not self.numpy_only(module)

    def child(self, folder: Path, module: str, question: str) -> Child:
        """The process that runs `module` of `folder`: your module is imported anew for each
        question (the grader starts a fresh process per question)."""
        key = (folder, module)
        held = self.children.get(key)
        if held and held[1].alive:
            if held[0] != question:
                held[1].call("forget")
                held[1].imported.clear()
                self.children[key] = (question, held[1])
            return held[1]
        for other in [k for k in self.children if k == key or k[0] != folder]:
            self.children.pop(other)[1].close()     # one folder's processes at a time
        stub = STUB if self.points["torch_in_numpy_part"] == "zero" else None
        self.children[key] = (question, Child(folder, stub))
        return self.children[key][1]

    def module_here(self, folder: Path, module: str):
        """Your Part 5 module `module` of `folder`, imported in this process (once)."""
        key = (folder, module)
        if key not in self.modules_here:
            path = folder / f"{module}.py"
            if not path.exists():
                raise StudentCodeError("missing", f"{module}.py is not in {folder}")
            spec = importlib.util.spec_from_file_location(module, path)
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[module] = loaded
            sys.path.insert(0, str(folder))
            try:
                spec.loader.exec_module(loaded)
            except (Exception, SystemExit) as error:
                error = _raised_here(error, folder)
                self.modules_here[key] = StudentCodeError(
                    "import", f"your module could not be imported: {error}", error.type)
            else:
                self.modules_here[key] = loaded
            finally:
                sys.path.remove(str(folder))
        if isinstance(self.modules_here[key], StudentCodeError):
            raise self.modules_here[key]
        return self.modules_here[key]

    @pytest.fixture
    def student_folder(self) -> Path:
        """The folder whose modules are checked: this one."""
        return self.folder

    @pytest.fixture
    def submission(self, request, student_folder) -> Submission:
        return Submission(self, Path(student_folder), _question(request.node))

    # --- collection and outcomes --------------------------------------------------------
    def pytest_configure(self, config):
        config.addinivalue_line("markers", "question(id, weight=1): the exam question a check "
                                           "belongs to")

    def pytest_collection_modifyitems(self, items):
        """A check's weight is shared among its parametrized cases, as in the grader."""
        cases: dict[tuple, int] = {}
        for item in items:
            key = (item.path, item.originalname)
            cases[key] = cases.get(key, 0) + 1
        for item in items:
            marker = item.get_closest_marker("question")
            if marker:
                self.question_of[item.nodeid] = marker.args[0]
                self.weights[item.nodeid] = (marker.kwargs.get("weight", 1)
                                             / cases[(item.path, item.originalname)])

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        question = self.question_of.get(item.nodeid)
        if question is None or report.skipped or not (call.when == "call" or report.failed):
            return
        error_type = ""
        if call.excinfo is not None and report.failed:
            error = call.excinfo.value
            report.longrepr = failure_message(error, question)
            error_type = getattr(error, "type", "")
        self.modules_run.add(item.path.stem.removeprefix("test_"))
        self.outcomes.setdefault(question, []).append(
            (self.weights[item.nodeid], report.passed, error_type))

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session):
        """Stop the processes, then print the estimate: last, after pytest's own summary."""
        yield
        for _, child in self.children.values():
            child.close()
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter and not self.quiet:
            self.write_estimate(reporter)

    # --- the summary --------------------------------------------------------------------
    def torch_notes(self) -> list[str]:
        """One line per numpy-only module checked here whose import statements reach torch."""
        notes = []
        for module in sorted(self.modules_run, key=list(self.module_part).index):
            path = self.folder / f"{module}.py"
            if module not in self.module_part or not self.numpy_only(module) or not path.exists():
                continue
            where = torch_imports(path.read_bytes())
            if not where:
                continue
            used = [q for q in self.questions_of(module) if any(
                error == NUMPY_ONLY_ERROR for _, _, error in self.outcomes.get(q, []))]
            if self.points["torch_in_numpy_part"] == "warn":
                notes.append(f"{module}.py imports torch ({where}): parts 1-4 are numpy only, "
                             f"and the grader reports it to the course staff")
            elif used:
                notes.append(f"{module}.py imports torch ({where}) and uses it: "
                             f"{', '.join('Q' + q for q in used)} score 0 (parts 1-4 are numpy "
                             f"only)")
            else:
                notes.append(f"{module}.py imports torch ({where}), but no check used it: an "
                             f"unused import costs nothing; using torch in parts 1-4 scores "
                             f"the question 0")
        return notes

    def questions_of(self, module: str) -> list[str]:
        return [q["id"] for q in self.points["questions"] if module in q["modules"]]

    def estimate(self) -> list[dict]:
        """The questions checked, in exam order: {"question", "points", "passed", "run",
        "note"}; points is the question's points times the weighted share of its checks that
        passed, or 0 when a check of a numpy-only question ran into torch."""
        rows = []
        for q in self.points["questions"]:
            checks = self.outcomes.get(q["id"])
            if not checks:
                continue
            total = sum(w for w, _, _ in checks)
            points = q["points"] * sum(w for w, ok, _ in checks if ok) / total
            note = ""
            used = sum(error == NUMPY_ONLY_ERROR for _, _, error in checks)
            if used and self.parts[q["part"]]["numpy_only"] and \
                    self.points["torch_in_numpy_part"] == "zero":
                points = 0.0
                note = (f"scored 0: torch was used in a numpy-only part ({used} of "
                        f"{len(checks)} checks ran into it)")
            rows.append({"question": q, "points": points, "run": len(checks),
                         "passed": sum(ok for _, ok, _ in checks), "note": note})
        return rows

    def totals(self, rows: list[dict]) -> list[tuple[float, float, str]]:
        """(estimate, maximum, what it covers): a line per track all of whose questions were
        checked, or one line for the questions that were."""
        checked = {r["question"]["id"] for r in rows}
        lines = []
        for name, track in self.points["tracks"].items():
            mine = [q for q in self.points["questions"] if q["part"] in track["parts"]]
            if {q["id"] for q in mine} <= checked:
                lines.append((sum(r["points"] for r in rows if r["question"] in mine),
                              sum(q["points"] for q in mine), f"track {name}: {track['label']}"))
        if not lines and rows:
            modules = [m for m in self.module_part if m in self.modules_run]
            whole = {q for m in modules for q in self.questions_of(m)} == checked
            lines.append((sum(r["points"] for r in rows),
                          sum(r["question"]["points"] for r in rows),
                          f"the questions of {', '.join(f'{m}.py' for m in modules)}" if whole
                          else f"{', '.join(f'Q{q}' for q in sorted(checked, key=self.order))}: "
                               f"the questions checked"))
        return lines

    def order(self, qid: str) -> int:
        return [q["id"] for q in self.points["questions"]].index(qid)

    def pytest_terminal_summary(self, terminalreporter, config):
        notes = self.torch_notes()
        if notes and not self.quiet:
            terminalreporter.section("numpy-only rule (parts 1-4)")
            for line in notes:
                terminalreporter.write_line(line)

    def write_estimate(self, terminalreporter) -> None:
        rows = self.estimate()
        if not rows:
            return
        write = terminalreporter.write_line
        terminalreporter.section("estimate on the exam's point scale")
        for r in rows:
            q = r["question"]
            checks = f"{r['passed']} of {r['run']} checks passed"
            write(f"Q{q['id']:<5}{q['title'][:52]:<53}{_pts(r['points']):>5}/{_pts(q['points']):<3}"
                  f"  {checks}")
            if r["note"]:
                write(f"       {r['note']}")
        for points, maximum, what in self.totals(rows):
            write(f"estimate {_pts(points)}/{_pts(maximum)}  ({what})")
        write(HIDDEN_SUITES)


def _question(item) -> str:
    marker = item.get_closest_marker("question")
    return marker.args[0] if marker else ""

