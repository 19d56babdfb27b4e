"""Grading a whole class: parallel workers, a result file per submission, resume, progress.

    results = grade_class(paths, track="M2", jobs=2, results_dir=Path("dlexam-results"))

Each worker process keeps one warm Grader (suites imported once, references computed once,
one warm parent) and grades small chunks of submissions taken from a shared queue. As soon
as a submission is graded, the parent process writes `<results_dir>/<id>.json` atomically,
with a fingerprint of the submission's bytes and of the kit; a later run skips submissions
whose file holds the same fingerprint (`force=True` regrades everything). A submission that
crashes the pipeline is recorded with status "pipeline error" and the others go on.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import queue
import traceback
from pathlib import Path
from typing import Callable

from autograder import intake, rubric as rubric_module
from autograder.plugin import SUITES_DIR
from autograder.output_files import safe_name, write_atomic
from autograder.scoring import SubmissionScore, score_submission

KIT_DIR = Path(__file__).resolve().parent
CHUNK = 4


def expand(paths: list[Path]) -> list[Path]:
    """Submissions named by `paths`: a folder holding exam modules is one submission; a
    folder holding only sub-folders and zips (a class) stands for each of them."""
    modules = {f"{m}.py" for m in rubric_module.load().modules}
    found = []
    for path in map(Path, paths):
        if path.is_dir() and not path.is_symlink():
            entries = sorted(path.iterdir())
            names = {e.name for e in entries}
            members = [e for e in entries if not e.name.startswith(".")
                       and (e.is_dir() or e.suffix.lower() == ".zip")]
            if not names & modules and len(members) > 1:
                found.extend(members)
                continue
        found.append(path)
    return found


# What decides a grade; a change in any of these invalidates stored results (reports do not).
GRADING_PARTS = ("rubric.toml", "rubric.py", "checks.py", "scoring.py", "plugin.py", "grading.py",
                 "intake.py", "suites", "probes", "isolation")


def kit_fingerprint(suites: Path = SUITES_DIR) -> str:
    """Changes whenever the rubric, a suite, a probe or the grading code changes."""
    digest = hashlib.sha256()
    files = {f.resolve() for folder in [KIT_DIR / part for part in GRADING_PARTS] + [Path(suites)]
             for f in ([folder] if folder.is_file() else folder.rglob("*"))
             if f.suffix in (".py", ".toml", ".ini") and "__pycache__" not in f.parts}
    for file in sorted(files):
        digest.update(str(file).encode() + file.read_bytes())
    return digest.hexdigest()[:16]


def submission_fingerprint(path: Path, track: str, kit: str) -> str:
    digest = hashlib.sha256(f"{track}:{kit}".encode())
    path = Path(path)
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    for file in files:
        digest.update(str(file.relative_to(path) if file != path else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def result_path(results_dir: Path, submission_id: str) -> Path:
    return Path(results_dir) / f"{safe_name(submission_id)}.json"


def load_result(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def pipeline_error(path: Path, track: str, error: str) -> SubmissionScore:
    """The result of a submission the pipeline could not grade: 0 points, the error kept."""
    rubric = rubric_module.load()
    score = score_submission(rubric, track, intake.submission_id(Path(path)), [], set(), {},
                             [f"pipeline error: {error}"], [])
    score.status = "pipeline error"
    return score


def grade_chunks(grader, chunks, emit: Callable[[str, str, object], None]) -> None:
    """Grade chunk after chunk; emit ("graded", path, result) or ("failed", path, error).

    When a chunk crashes the pipeline, its submissions not yet graded are retried one by one,
    so only the submission that causes the crash is reported as failed.
    """
    for chunk in chunks:
        done = set()

        def report(index: int, score: SubmissionScore, chunk=chunk, done=done) -> None:
            done.add(index)
            emit("graded", chunk[index], score.to_json())

        try:
            grader.grade([Path(p) for p in chunk], on_graded=report)
        except Exception:
            rest = [path for index, path in enumerate(chunk) if index not in done]
            if len(chunk) > 1:
                grade_chunks(grader, [[path] for path in rest], emit)
            else:
                emit("failed", chunk[0], traceback.format_exc(limit=3))


def _worker(index: int, track: str, suites: str, tasks, results) -> None:
    """Worker process: grade chunks from the `tasks` queue until it yields None."""
    from autograder.grading import Grader

    with Grader(track, suites=Path(suites)) as grader:
        grade_chunks(grader, iter(tasks.get, None), lambda *event: results.put(event))


def grade_class(paths: list[Path], track: str, jobs: int, results_dir: Path,
                force: bool = False,
                on_progress: Callable[[int, int], None] | None = None,
                suites: Path = SUITES_DIR) -> list[dict]:
    """Grade every submission in `paths` (already expanded); return their results in order.

    `on_progress(done, total)` is called after each submission, cached ones included.
    """
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    kit = kit_fingerprint(suites)
    fingerprints = {str(p): submission_fingerprint(p, track, kit) for p in paths}
    outcome: dict[str, dict] = {}
    for p in paths:
        cached = load_result(result_path(results_dir, intake.submission_id(Path(p))))
        if not force and cached and cached.get("fingerprint") == fingerprints[str(p)]:
            outcome[str(p)] = cached
    todo = [str(p) for p in paths if str(p) not in outcome]
    if on_progress:
        on_progress(len(outcome), len(paths))

    def record(path: str, result: dict) -> None:
        result["fingerprint"] = fingerprints[path]
        result["source"] = path
        write_atomic(result_path(results_dir, result["submission"]), json.dumps(result, indent=1))
        outcome[path] = result
        if on_progress:
            on_progress(len(outcome), len(paths))

    def on_event(kind: str, path: str, payload) -> None:
        record(path, payload if kind == "graded" else
               pipeline_error(Path(path), track, payload.strip().splitlines()[-1]).to_json())

    jobs = max(1, min(jobs, len(todo)))
    if len(todo) == 1 or jobs == 1:   # no worker process: saves a start-up for a single submission
        from autograder.grading import Grader

        with Grader(track, suites=suites) as grader:
            grade_chunks(grader, [todo[i:i + CHUNK] for i in range(0, len(todo), CHUNK)], on_event)
    elif todo:
        _run_workers(todo, track, jobs, on_event, suites)
    return [outcome[str(p)] for p in paths]


def _run_workers(todo: list[str], track: str, jobs: int, on_event, suites: Path) -> None:
    context = multiprocessing.get_context("spawn")
    tasks, results = context.Queue(), context.Queue()
    size = max(1, min(CHUNK, len(todo) // (jobs * 2) or 1))
    for start in range(0, len(todo), size):
        tasks.put(todo[start:start + size])
    workers = [context.Process(target=_worker, args=(i, track, str(suites), tasks, results),
                               daemon=True)
               for i in range(jobs)]
    for _ in workers:
        tasks.put(None)
    for w in workers:
        w.start()
    pending = set(todo)
    try:
        while pending:
            try:
                kind, path, payload = results.get(timeout=1.0)
            except queue.Empty:
                if not any(w.is_alive() for w in workers):
                    break
                continue
            if path in pending:
                pending.discard(path)
                on_event(kind, path, payload)
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
            w.join(timeout=5)
    for path in sorted(pending):   # a worker died: its submissions are reported, not lost
        on_event("failed", path, "the grading worker died")


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)))
