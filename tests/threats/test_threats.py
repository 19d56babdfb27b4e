"""The threat suite: hostile submissions, graded in one batch with the real hidden suites.

One module-scoped fixture grades every submission of threat_table.THREATS, plus an untouched
correct one (the baseline), with one Grader and one pytest session, as a class is graded. While
it runs it records what a test can only see then: which sandbox processes are alive when a
submission's result is written, how long each submission took. The tests then assert, per
threat: the grader survived and graded it; every question the attack does not touch scores as
in the baseline; the touched ones lose points; the JSON is valid and small; no process of the
submission was left when its result was written. And for the whole batch: results files hold
what the grader wrote, nothing was written outside the scratch folder, no tripwire fired (a
file only student code run by the grader itself would write), the canary never appears.

Protections that need root (unprivileged user, chroot, no network, cgroup) are asserted only
as root; CI runs as root. Elsewhere those tests skip and say why.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import shutil
import socket
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from threat_table import CANARY_PATTERN, CORRECT, THREATS, build

from autograder.grading import Grader
from autograder.isolation import cgroups
from autograder.isolation.sandbox import Limits
from autograder.plugin import SUITES_DIR
from autograder.reports.json_report import safe_name, write_atomic
from autograder.rubric import RUBRIC_PATH

ROOT = os.geteuid() == 0
REPO = Path(__file__).resolve().parents[2]
THREAT_UID = 62831      # a uid of its own: "no process of this uid is left" is then exact
LIMITS = Limits(call_seconds=4.0, cpu_seconds=60, data_bytes=1024 ** 3,
                memory_bytes=3 * 2 ** 29, processes=32)
BY_NAME = {t.name: t for t in THREATS}
NEEDS_ROOT = "needs root (CI runs as root): without it children run as the grader's own user"


def available(threat) -> bool:
    return {"root": ROOT, "cgroup": cgroups.available(), "": True}[threat.needs]


@dataclass
class Batch:
    scores: dict = field(default_factory=dict)          # name -> SubmissionScore
    seconds: dict = field(default_factory=dict)         # name -> seconds to grade it
    leftovers: dict = field(default_factory=dict)       # name -> sandbox pids alive at its result
    written: dict = field(default_factory=dict)         # name -> results file text we wrote
    read_back: dict = field(default_factory=dict)       # name -> that file, a second later
    rendered: dict = field(default_factory=dict)        # name -> terminal table, or the error
    outside_files: list = field(default_factory=list)
    suites_changed: list = field(default_factory=list)
    network_hits: list = field(default_factory=list)
    outputs_left: list = field(default_factory=list)
    uid_processes: list = field(default_factory=list)
    total_seconds: float = 0.0
    context: dict = field(default_factory=dict)
    canary: str = ""


def descendants(pid: int) -> list[int]:
    """Living (not zombie) processes whose ancestry includes `pid`."""
    parents, states = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)], states[int(entry)] = int(fields[1]), fields[0]
    found = []
    for candidate in parents:
        p = candidate
        while p > 1:
            p = parents.get(p, 0)
            if p == pid:
                if states[candidate] not in (b"Z", b"X"):
                    found.append(candidate)
                break
    return found


def processes_of_uid(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    found.append(int(entry))
            except OSError:
                pass
    return found


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def render(score) -> str:
    from rich.console import Console

    from autograder.reports import table
    out = io.StringIO()
    table.render(score, Console(file=out, width=120, force_terminal=True))
    return out.getvalue()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("threats")
    token = "threat" + secrets.token_hex(6)
    canary = "dlexam-canary-" + secrets.token_hex(16)
    assert re.fullmatch(CANARY_PATTERN, canary)
    # the hidden suites, copied, with a canary beside them and inside one of them
    suites = base / "suites"
    shutil.copytree(SUITES_DIR, suites, ignore=shutil.ignore_patterns("__pycache__"))
    (suites / "SECRET.txt").write_text(canary + "\n")
    with open(suites / "test_softmax.py", "a") as f:
        f.write(f"\n# {canary}\n")
    submissions, results = base / "submissions", base / "results"
    outside_tmp = Path(f"/tmp/dlexam-{token}")
    for folder in (submissions, results, outside_tmp):
        folder.mkdir()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    context = {"token": token, "outside": [str(submissions), str(outside_tmp), str(REPO),
                                           str(results), str(suites)],
               "results_dir": str(results), "suites": str(suites), "rubric": str(RUBRIC_PATH),
               "canary_file": str(suites / "SECRET.txt"), "tripwire": str(outside_tmp / "tripwire"),
               "port": listener.getsockname()[1], "udp_port": udp.getsockname()[1]}
    shutil.copytree(CORRECT, submissions / "baseline")
    names = ["baseline"] + [t.name for t in THREATS if available(t)]
    paths = [submissions / "baseline"] + [build(t, submissions, context)
                                         for t in THREATS if available(t)]
    before = snapshot(suites)
    out = Batch(context=context, canary=canary)
    try:
        last = start = time.monotonic()

        def graded(index, score):
            nonlocal last
            name = names[index]
            out.seconds[name], last = time.monotonic() - last, time.monotonic()
            out.leftovers[name] = descendants(grader.parent.process.pid)
            text = json.dumps(score.to_json(), indent=1)
            write_atomic(results / f"{safe_name(score.submission)}.json", text)
            out.written[name] = text
            out.scores[name] = score

        with pytest.MonkeyPatch.context() as env:
            env.setenv("DLEXAM_THREAT_CANARY", canary)   # in the grader's environment
            grader = Grader("M2", limits=LIMITS, suites=suites, sandbox_uid=THREAT_UID)
            try:
                grader.grade(paths, on_graded=graded)
                out.total_seconds = time.monotonic() - start
                out.outputs_left = list(Path(grader.parent._outputs.name).iterdir())
            finally:
                grader.close()
        time.sleep(1.0)   # a delayed rewriter, had it survived, would have struck by now
        out.uid_processes = processes_of_uid(THREAT_UID) if ROOT else []
        for name in out.written:
            out.read_back[name] = (results / f"{name}.json").read_text()
        for name, score in out.scores.items():
            try:
                out.rendered[name] = render(score)
            except Exception as error:   # noqa: BLE001  (the test reports it)
                out.rendered[name] = error
        after = snapshot(suites)
        out.suites_changed = sorted(k for k in before.keys() | after.keys()
                                    if before.get(k) != after.get(k))
        for folder in map(Path, context["outside"]):
            out.outside_files += [str(p) for p in folder.iterdir() if token in p.name]
        out.outside_files += [str(p) for p in outside_tmp.iterdir()]
        try:
            out.network_hits.append(listener.accept())
        except BlockingIOError:
            pass
        try:
            out.network_hits.append(udp.recv(100))
        except BlockingIOError:
            pass
        print(f"\nthreat batch: {len(paths)} submissions in {out.total_seconds:.1f} s; slowest: "
              + ", ".join(f"{n} {s:.1f} s" for n, s in sorted(out.seconds.items(),
                                                                key=lambda i: -i[1])[:5]))
        yield out
    finally:
        listener.close()
        udp.close()
        shutil.rmtree(outside_tmp, ignore_errors=True)
        for folder in (REPO, Path("/tmp")):   # what an unconfined attack (not root) left
            for p in folder.glob(f"{token}*"):
                p.unlink()


def points_by_question(score) -> dict[str, float]:
    return {q.id: q.points for q in score.questions}


def failures(score, qids) -> str:
    lines = [f"{q.id} {q.points}/{q.max}: {t.message[:300]}" for q in score.questions
             if q.id in qids for t in q.tests if not t.passed][:6]
    return "\n".join(lines)


def test_the_baseline_scores_full_marks(batch):
    score = batch.scores["baseline"]
    assert score.total == score.max == 35, failures(score, {q.id for q in score.questions})


@pytest.mark.parametrize("name", list(BY_NAME))
def test_an_attack_costs_only_the_questions_it_touches(batch, name):
    threat = BY_NAME[name]
    if not available(threat):
        pytest.skip(NEEDS_ROOT if threat.needs == "root" else
                    "needs a memory and pids cgroup (root, cgroup v1 or delegated v2)")
    score = batch.scores[name]
    assert score.status == "graded"
    baseline, got = points_by_question(batch.scores["baseline"]), points_by_question(score)
    touched = threat.touched()
    lost = {q: got[q] for q in got if q not in touched and got[q] != baseline[q]}
    assert not lost, f"untouched questions lost points: {lost}\n{failures(score, lost)}"
    kept = {q for q in touched if got[q] >= baseline[q]}
    assert not kept, f"the attack kept (or won back) the points of {kept}"
    if threat.problem:
        assert any(threat.problem in p for p in score.problems), score.problems
    text = batch.written[name]
    assert len(text.encode()) < 1_000_000 and json.loads(text)["submission"] == score.submission
    shown = [t.message for q in score.questions for t in q.tests] + score.problems
    assert not [m for m in shown if any(unicodedata.category(c) in ("Cc", "Cs")
                                        and c not in "\n\t" for c in m)]
    assert batch.leftovers[name] == [], "sandbox processes alive when the result was written"
    assert batch.seconds[name] < 60
    assert isinstance(batch.rendered[name], str), batch.rendered[name]


def test_every_submission_is_graded_and_the_grader_survives(batch):
    assert set(batch.scores) == {"baseline"} | {t.name for t in THREATS if available(t)}
    assert batch.total_seconds < 900


def test_results_files_hold_what_the_grader_wrote(batch):
    changed = [n for n in batch.written if batch.read_back[n] != batch.written[n]]
    assert not changed, "a results file was rewritten after the grader wrote it"


def test_no_process_of_a_submission_outlives_its_grading(batch):
    assert {n: p for n, p in batch.leftovers.items() if p} == {}
    if ROOT:
        assert batch.uid_processes == []


def test_the_output_of_ended_children_is_not_kept(batch):
    assert batch.outputs_left == []


def test_no_tripwire_fires_and_archives_extract_nothing(batch):
    """Tripwires are written only if the grader itself ran student code (a conftest.py, a
    shadowing module, an unpickled payload); archives must never place a file anywhere."""
    tmp = Path(batch.context["outside"][1])
    assert not list(tmp.glob("tripwire*"))
    assert not (tmp / "mlp.py").exists() and not (tmp / "zip-slip.py").exists()


@pytest.mark.skipif(not ROOT, reason=NEEDS_ROOT + ", and may write wherever that user can")
def test_nothing_is_written_outside_the_scratch_folder(batch):
    assert batch.outside_files == []
    assert batch.suites_changed == []


@pytest.mark.skipif(not ROOT, reason=NEEDS_ROOT + ", and may read whatever that user can")
def test_the_canary_never_appears(batch):
    for name, text in batch.written.items():
        assert batch.canary not in text, name
        assert batch.canary not in batch.read_back[name], name
    messages = [t.message for q in batch.scores["read_secrets"].questions for t in q.tests
                if "leaked:" in t.message]
    assert messages and all("leaked: [] []" in m for m in messages), messages[:2]


@pytest.mark.skipif(not ROOT, reason=NEEDS_ROOT + ", in the grader's network namespace")
def test_children_have_no_network(batch):
    assert batch.network_hits == []
