"""Grading a whole class: what each path holds, shards, parallel workers, a result file per
submission, resume, progress.

    entries = survey(paths, track="M2")      # intake of each path: its id, modules, fingerprint
    run = grade_entries(entries, "M2", jobs=2, results_dir=Path("dlexam-results"))

`survey` runs intake on each path in a scratch folder: a path that does not exist or holds no
exam module has no modules, and the caller decides (`dlexam grade` refuses, or with
--skip-missing records it as "no submission", never a graded 0). The fingerprint of a submission
is a hash of the sorted (name, sha256) of the files intake accepted, of the track, of every
file of the grading package, of the numpy and torch versions and of the sandbox settings (its
limits, whether isolated), so a rerun keeps a stored result only when nothing that decides the
grade changed.

Each worker process keeps one warm Grader (suites imported once, references computed once,
one warm parent) and grades small chunks of submissions taken from a shared queue. As soon
as a submission is graded, the parent process writes `<results_dir>/<id>.json` atomically,
with its fingerprint; a later run skips submissions whose file holds the same fingerprint
(`force=True` regrades everything). A submission that crashes the pipeline is recorded with
status "pipeline error" and the others go on.

`in_shard` splits a class between machines by a hash of the submission id: the same share
whatever the order of the paths, into the same results folder layout.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import queue
import tempfile
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from autograder import intake, rubric as rubric_module
from autograder.isolation.sandbox import Limits
from autograder.output_files import safe_name, write_atomic
from autograder.plugin import SUITES_DIR
from autograder.scoring import SubmissionScore, score_submission

KIT_DIR = Path(__file__).resolve().parent
CHUNK = 4
CLOSE_SECONDS = 30          # a worker's Grader closing after its last submission
NO_SUBMISSION = "no submission"


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


def in_shard(submission_id: str, shard: int, shards: int) -> bool:
    """Whether the submission belongs to shard `shard` of `shards` (1 <= shard <= shards)."""
    return int(hashlib.sha256(submission_id.encode()).hexdigest(), 16) % shards == shard - 1


def digest(items) -> str:
    """A hash of a JSON-able value: names and contents cannot run into each other."""
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


def _file_hashes(folder: Path) -> list[tuple[str, str]]:
    """(path relative to `folder`, sha256 of the whole content) of every file under it."""
    return sorted((f.relative_to(folder).as_posix(), hashlib.sha256(f.read_bytes()).hexdigest())
                  for f in folder.rglob("*") if f.is_file() and "__pycache__" not in f.parts)


def kit_fingerprint(suites: Path = SUITES_DIR) -> str:
    """Every file of the grading package (rubric, suites, probes, isolation, scoring, reports,
    ...) and of `suites` when they lie elsewhere, and the versions of the libraries the
    references come from: any change there regrades."""
    suites = Path(suites).resolve()
    folders = [KIT_DIR] + ([] if suites.is_relative_to(KIT_DIR) else [suites])
    libraries = [importlib.metadata.version(name) for name in ("numpy", "torch")]
    return digest([_file_hashes(folder) for folder in folders] + [libraries])


@dataclass
class Entry:
    """A path given to grade, after intake in a scratch folder (deleted since)."""
    path: Path
    id: str
    fingerprint: str            # the accepted files, the track and the grading kit
    modules: list[str] = field(default_factory=list)    # the exam modules intake accepted
    problems: list[str] = field(default_factory=list)
    error: str = ""             # intake itself crashed: a pipeline error, not a missing path

    @property
    def empty(self) -> bool:
        """No exam module: the path does not exist or holds none (not an intake crash)."""
        return not self.modules and not self.error


def survey(paths: list[Path], track: str, suites: Path = SUITES_DIR, limits: Limits = Limits(),
           isolate: bool = True) -> list[Entry]:
    """Intake of every path, in order: what it holds and its fingerprint (which covers the
    sandbox settings a grade depends on: `limits` and `isolate`)."""
    rubric = rubric_module.load()
    modules = [m for m in rubric.modules if any(m in q.modules for q in rubric.questions_in(track))]
    salt = [track, kit_fingerprint(suites), asdict(limits), isolate]
    entries = []
    for path in map(Path, paths):
        with tempfile.TemporaryDirectory(prefix="dlexam-survey-") as scratch:
            try:
                sub = intake.take(path, Path(scratch) / "submission", modules)
            except Exception:
                error = traceback.format_exc(limit=3).strip().splitlines()[-1]
                entries.append(Entry(path, intake.submission_id(path), "", error=error))
                continue
            accepted = [(f"{m}.py", hashlib.sha256((sub.workdir / f"{m}.py").read_bytes()).hexdigest())
                        for m in sub.modules]
        entries.append(Entry(path, sub.id, digest([salt, sorted(accepted)]), sub.modules,
                             sub.problems))
    return entries


def clashes(entries: list[Entry]) -> list[list[Entry]]:
    """Groups of entries that would share one result file: `alice/` and `alice.zip`, or ids
    that differ only in characters a file name cannot hold (`a b` and `a_b`)."""
    by_file: dict[str, list[Entry]] = {}
    for e in entries:
        by_file.setdefault(safe_name(e.id), []).append(e)
    return [group for group in by_file.values() if len(group) > 1]


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


def _worker(index: int, track: str, suites: str, limits: Limits, isolate: bool, tasks,
            results) -> None:
    """Worker process: grade chunks from the `tasks` queue until it yields None."""
    from autograder.grading import Grader

    with Grader(track, limits, Path(suites), isolate) as grader:
        grade_chunks(grader, iter(tasks.get, None), lambda *event: results.put(event))


def no_submission(entry: Entry, track: str) -> SubmissionScore:
    """The record of a path that holds no exam module: no grade at all (no total, no question),
    so that no gradebook can show it as a graded 0."""
    rubric = rubric_module.load()
    return SubmissionScore(entry.id, track, None, rubric.max_points(track), None, [], {},
                           NO_SUBMISSION, list(entry.problems), [])


@dataclass
class Run:
    """What grade_entries did: every result, in the order of the entries, and which were kept."""
    results: list[dict]
    reused: set[str]             # ids of the submissions whose stored result was kept


def grade_entries(entries: list[Entry], track: str, jobs: int, results_dir: Path,
                  force: bool = False,
                  on_progress: Callable[[int, int], None] | None = None,
                  suites: Path = SUITES_DIR, limits: Limits = Limits(),
                  isolate: bool = True) -> Run:
    """Grade every entry of `survey`; an entry without modules is recorded as "no submission",
    one whose intake crashed as a "pipeline error". `limits` and `isolate` go to each Grader
    (and must be those the entries were surveyed with).

    `on_progress(done, total)` is called after each submission, kept ones included.
    """
    clashing = clashes(entries)
    if clashing:
        raise ValueError("paths that would share one result file: " + "; ".join(
            " and ".join(str(e.path) for e in group) for group in clashing))
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    by_path = {str(e.path): e for e in entries}
    outcome: dict[str, dict] = {}
    reused = set()

    def store(path: str, result: dict) -> None:
        result["fingerprint"] = by_path[path].fingerprint
        result["source"] = path
        write_atomic(result_path(results_dir, result["submission"]), json.dumps(result, indent=1))
        outcome[path] = result

    for e in entries:
        cached = None if force else load_result(result_path(results_dir, e.id))
        if e.error:
            store(str(e.path), pipeline_error(e.path, track, e.error).to_json())
        elif cached and cached.get("fingerprint") == e.fingerprint:
            outcome[str(e.path)] = cached
            reused.add(e.id)
        elif e.empty:
            store(str(e.path), no_submission(e, track).to_json())
    todo = [path for path in by_path if path not in outcome]
    if on_progress:
        on_progress(len(outcome), len(by_path))

    def on_event(kind: str, path: str, payload) -> None:
        store(path, payload if kind == "graded" else
              pipeline_error(Path(path), track, payload.strip().splitlines()[-1]).to_json())
        if on_progress:
            on_progress(len(outcome), len(by_path))

    jobs = max(1, min(jobs, len(todo)))
    if todo and jobs == 1:   # no worker process: saves a start-up for a single submission
        from autograder.grading import Grader

        with Grader(track, limits, suites, isolate) as grader:
            grade_chunks(grader, [todo[i:i + CHUNK] for i in range(0, len(todo), CHUNK)], on_event)
    elif todo:
        _run_workers(todo, track, jobs, on_event, suites, limits, isolate)
    return Run([outcome[str(e.path)] for e in entries], reused)


def grade_class(paths: list[Path], track: str, jobs: int, results_dir: Path,
                force: bool = False,
                on_progress: Callable[[int, int], None] | None = None,
                suites: Path = SUITES_DIR, limits: Limits = Limits(),
                isolate: bool = True) -> list[dict]:
    """Survey and grade every submission in `paths` (already expanded); their results in order."""
    return grade_entries(survey(paths, track, suites, limits, isolate), track, jobs, results_dir,
                         force, on_progress, suites, limits, isolate).results


def _run_workers(todo: list[str], track: str, jobs: int, on_event, suites: Path, limits: Limits,
                 isolate: bool) -> None:
    context = multiprocessing.get_context("spawn")
    tasks, results = context.Queue(), context.Queue()
    size = max(1, min(CHUNK, len(todo) // (jobs * 2) or 1))
    for start in range(0, len(todo), size):
        tasks.put(todo[start:start + size])
    workers = [context.Process(target=_worker, args=(i, track, str(suites), limits, isolate, tasks, results),
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
        # Workers that finished their queue close their Grader (children, scratch folders)
        # before they exit: give them the time; interrupted ones end on SIGTERM, which a
        # grading Grader turns into the same clean-up.
        for w in workers:
            w.join(timeout=CLOSE_SECONDS if not pending else 0)
            if w.is_alive():
                w.terminate()
            w.join(timeout=5)
    for path in sorted(pending):   # a worker died: its submissions are reported, not lost
        on_event("failed", path, "the grading worker died")


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)))
