"""The threat suite: hostile submissions, graded in one batch with the real hidden suites, as root
and as an unprivileged user.

Per mode, one module-scoped fixture builds every submission of threat_table.THREATS, each followed
by an untouched correct copy ("after-<threat>") graded right after it by the same grader, and
runs the batch in tests/threats/batch_driver.py: in a process of its own as root, and through
tests/unprivileged.py as nobody. The driver records what a test can only see during the run
(sandbox processes alive when a result is written, seconds per submission); this process then
looks at what is left: processes of the children's uids, SysV IPC objects, files outside the
scratch folder, the hidden suites' bytes, the network listeners, the canary. The tests assert,
per threat and mode: the grader survived and graded it; every question the attack does not
touch scores as in the baseline; the touched ones lose points; the correct submission graded
after it gets full marks; and for the whole batch: nothing outlives the run, results files hold
what the grader wrote, nothing was written outside, no tripwire fired, the canary never appears.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest
from threat_table import CANARY_PATTERN, CORRECT, THREATS, build

from autograder.isolation import cgroups
from autograder.isolation.sandbox import UID_BASE
from autograder.plugin import SUITES_DIR
from autograder.rubric import RUBRIC_PATH
from autograder.scoring import SubmissionScore
from tests.unprivileged import NOBODY, run_as_nobody, shared_folder, usable

ROOT = os.geteuid() == 0
REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("batch_driver.py")
BY_NAME = {t.name: t for t in THREATS}
GRADER_PEAK_BYTES = 1536 * 1024 ** 2   # the grader of the threat batch peaks near 500 MB
MODES = ["root", "unprivileged"] if ROOT else ["unprivileged"]


def available(threat, mode: str) -> bool:
    """A cgroup exists only for a root grader: without it, nothing bounds shared mappings."""
    return threat.needs != "cgroup" or (mode == "root" and cgroups.available())


def processes_of(uids: range) -> list[tuple[int, int]]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uid = os.stat(f"/proc/{entry}").st_uid
            except OSError:
                continue
            if uid in uids:
                found.append((int(entry), uid))
    return found


def sysv_objects() -> set[str]:
    found = set()
    for kind in ("shm", "sem", "msg"):
        lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        found |= {f"{kind}:{line.split()[1]}" for line in lines}
    return found


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def open_up(folder: Path) -> None:
    """Readable by every user (the unprivileged grader reads the submissions and suites)."""
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture(scope="module", params=MODES)
def batch(request):
    mode = request.param
    if mode == "unprivileged" and ROOT and usable():
        pytest.skip(usable())
    base = shared_folder("dlexam-threats-")
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
    results.chmod(0o777)
    outside_tmp.chmod(0o777)
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
    names, paths = ["baseline"], [submissions / "baseline"]
    for threat in THREATS:
        if available(threat, mode):
            names += [threat.name, f"after-{threat.name}"]
            paths += [build(threat, submissions, context),
                      Path(shutil.copytree(CORRECT, submissions / f"after-{threat.name}"))]
    open_up(submissions)
    open_up(suites)
    run, out_file = base / "run.json", base / "out.json"
    run.write_text(json.dumps({"names": names, "paths": list(map(str, paths)),
                               "suites": str(suites), "results": str(results)}))
    before_suites, before_ipc = snapshot(suites), sysv_objects()
    argv = [sys.executable, str(DRIVER), str(run), str(out_file)]
    env = {"DLEXAM_THREAT_CANARY": canary, "PYTHONPATH": f"{REPO}:{DRIVER.parent}"}
    try:
        if mode == "root":
            done = subprocess.run(argv, cwd=base, capture_output=True, text=True, timeout=1800,
                                  env={**os.environ, **env})
        else:
            done = run_as_nobody(argv, cwd=base, env=env, timeout=1800)
        assert done.returncode == 0, done.stderr[-3000:]
        out = json.loads(out_file.read_text())
        out.update(mode=mode, context=context, canary=canary)
        out["scores"] = {n: SubmissionScore.from_json(s) for n, s in out["scores"].items()}
        time.sleep(1.0)   # a delayed rewriter, had it survived, would have struck by now
        uids = range(UID_BASE, UID_BASE + 2 ** 22) if mode == "root" else range(NOBODY, NOBODY + 1)
        out["uid_processes"] = processes_of(uids)
        out["ipc_left"] = sorted(sysv_objects() - before_ipc)
        out["read_back"] = {n: (results / f"{n}.json").read_text() for n in out["written"]}
        after = snapshot(suites)
        out["suites_changed"] = sorted(k for k in before_suites.keys() | after.keys()
                                       if before_suites.get(k) != after.get(k))
        out["outside_files"] = [str(p) for folder in map(Path, context["outside"])
                                for p in folder.iterdir() if token in p.name]
        out["outside_files"] += [str(p) for p in outside_tmp.iterdir()]
        out["network_hits"] = []
        for receive in (listener.accept, lambda: udp.recv(100)):
            try:
                out["network_hits"].append(repr(receive()))
            except BlockingIOError:
                pass
        print(f"\nthreat batch ({mode}): {len(paths)} submissions in {out['total_seconds']:.1f} s;"
              " slowest: " + ", ".join(f"{n} {s:.1f} s" for n, s in sorted(
                  out["seconds"].items(), key=lambda i: -i[1])[:5]))
        yield out
    finally:
        listener.close()
        udp.close()
        shutil.rmtree(outside_tmp, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


def points_by_question(score) -> dict[str, float]:
    return {q.id: q.points for q in score.questions}


def failures(score, qids) -> str:
    lines = [f"{q.id} {q.points}/{q.max}: {t.message[:300]}" for q in score.questions
             if q.id in qids for t in q.tests if not t.passed][:6]
    return "\n".join(lines)


def test_the_baseline_scores_full_marks(batch):
    score = batch["scores"]["baseline"]
    assert score.total == score.max == 35, failures(score, {q.id for q in score.questions})


@pytest.mark.parametrize("name", list(BY_NAME))
def test_an_attack_costs_only_the_questions_it_touches(batch, name):
    threat = BY_NAME[name]
    if not available(threat, batch["mode"]):
        pytest.skip("needs the memory and pids cgroup of a root grader")
    score = batch["scores"][name]
    assert score.status == "graded"
    baseline, got = points_by_question(batch["scores"]["baseline"]), points_by_question(score)
    touched = threat.touched()
    lost = {q: got[q] for q in got if q not in touched and got[q] != baseline[q]}
    assert not lost, f"untouched questions lost points: {lost}\n{failures(score, lost)}"
    kept = {q for q in touched if got[q] >= baseline[q]}
    assert not kept, f"the attack kept (or won back) the points of {kept}"
    if threat.problem:
        assert any(threat.problem in p for p in score.problems), score.problems
    text = batch["written"][name]
    assert len(text.encode()) < 1_000_000 and json.loads(text)["submission"] == score.submission
    shown = [t.message for q in score.questions for t in q.tests] + score.problems
    assert not [m for m in shown if any(unicodedata.category(c) in ("Cc", "Cs")
                                        and c not in "\n\t" for c in m)]
    assert batch["leftovers"][name] == [], "sandbox processes alive when the result was written"
    assert batch["render_errors"][name] is None


@pytest.mark.parametrize("name", list(BY_NAME))
def test_the_correct_submission_graded_after_an_attack_keeps_full_marks(batch, name):
    if not available(BY_NAME[name], batch["mode"]):
        pytest.skip("needs the memory and pids cgroup of a root grader")
    score = batch["scores"][f"after-{name}"]
    assert score.total == 35, failures(score, {q.id for q in score.questions})


def test_every_submission_is_graded_and_the_grader_survives(batch):
    expected = {"baseline"} | {n for t in THREATS if available(t, batch["mode"])
                               for n in (t.name, f"after-{t.name}")}
    assert set(batch["scores"]) == expected


def test_the_grader_process_stays_small_whatever_stand_ins_are_asked(batch):
    """stand_in_memory_bomb asks for a 3.2 GB answer: the grader never computes it itself."""
    assert batch["grader_peak_bytes"] < GRADER_PEAK_BYTES


def test_results_files_hold_what_the_grader_wrote(batch):
    changed = [n for n in batch["written"] if batch["read_back"][n] != batch["written"][n]]
    assert not changed, "a results file was rewritten after the grader wrote it"


def test_nothing_a_submission_starts_or_creates_outlives_the_run(batch):
    assert {n: p for n, p in batch["leftovers"].items() if p} == {}
    assert batch["uid_processes"] == []
    assert batch["ipc_left"] == []


def test_no_tripwire_fires_and_archives_extract_nothing(batch):
    """Tripwires are written only if the grader itself ran student code (a conftest.py, a
    shadowing module, an unpickled payload); archives must never place a file anywhere."""
    tmp = Path(batch["context"]["outside"][1])
    assert not list(tmp.glob("tripwire*"))
    assert not (tmp / "mlp.py").exists() and not (tmp / "zip-slip.py").exists()


def test_nothing_is_written_outside_the_scratch_folder(batch):
    assert batch["outside_files"] == []
    assert batch["suites_changed"] == []


def test_the_canary_never_appears(batch):
    for name, text in batch["written"].items():
        assert batch["canary"] not in text, name
        assert batch["canary"] not in batch["read_back"][name], name
    messages = [t.message for q in batch["scores"]["read_secrets"].questions for t in q.tests
                if "leaked:" in t.message]
    assert messages and all("leaked: [] []" in m for m in messages), messages[:2]


def test_children_have_no_network(batch):
    assert batch["network_hits"] == []
