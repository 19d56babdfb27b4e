"""Benchmark `dlexam grade`: cold single submission, a class of N, a hostile class, peak memory.

    python scripts/benchmark.py            # N = 100, default jobs
    python scripts/benchmark.py --n 20 --jobs 2

Prints, each next to a baseline measured in the same invocation (a fresh interpreter running
plain pytest on the public tests, per submission, the way a naive autograder works):
- cold single submission: wall time of `dlexam grade examples/submissions/correct --json ...`
  from CLI start to the JSON on disk, median of --cold-runs runs, each with an empty cache
  folder (nothing cached but what a fresh install ships); and the same with the reference store
  in place, as the otter/Gradescope zip ships it;
- class of N: wall time of grading N copies of the examples (correct, partial, skeleton in
  turn), divided by N, with the reference store in place (as every run after the first has it);
- hostile class: the same class with 5 of its submissions replaced by ones whose every function
  sleeps just under the per-call limit; bounded by the question and submission budgets;
- chatty class: the same class with every correct copy printing 10 KB at each call of each
  function, far past the 64 KiB kept per question: the cost of relaying and capping output;
- stand-ins: in this process, a Grader grading the first 30 submissions of the class, with the
  grader's side of the stand-ins (standins.answer) timed: how many requests, how long;
- peak memory of the class run: the largest sum over the process tree (grader, workers, warm
  parents, sandboxed children) of each process's proportional set size (PSS), sampled every
  20 ms, so pages shared after fork are counted once.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "submissions").iterdir())
HOSTILE = 5
STAND_IN_SAMPLE = 30


def descendants(pid: int) -> list[int]:
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except OSError:
                pass
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    except (OSError, StopIteration, ValueError):
        return 0


def timed(command: list[str], cwd: Path, env: dict | None = None,
          sample: bool = False) -> tuple[float, int]:
    """(wall seconds, peak PSS of the process tree in KiB, when `sample`) of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, **(env or {})})
    peak = [0]

    def sampler() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], sum(pss_kib(p) for p in descendants(process.pid)))
            time.sleep(0.02)

    thread = threading.Thread(target=sampler) if sample else None
    if thread:
        thread.start()
    _, stderr = process.communicate()
    if thread:
        thread.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr.decode()[-2000:]}")
    return time.perf_counter() - started, peak[0]


def make_class(folder: Path, n: int, hostile: int = 0, chatty: bool = False) -> Path:
    """N copies of the examples in turn; the first `hostile` of them replaced by sleepers; with
    `chatty`, the correct copies print at every call."""
    roster = folder / ("hostile-class" if hostile else "chatty-class" if chatty else "class")
    roster.mkdir()
    for i in range(n):
        source = EXAMPLES[i % len(EXAMPLES)]
        target = roster / f"student{i:03d}{source.suffix}"
        if i < hostile:
            write_sleeper(roster / f"student{i:03d}")
        else:
            (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
            if chatty and source.is_dir():
                for module in target.glob("*.py"):
                    module.write_text(module.read_text() + CHATTER)
    return roster


# Appended to a correct module: each of its functions prints 10 KB whenever it is called.
CHATTER = """

def _chatty(function):
    def chatty(*args, **kwargs):
        print("chatter " * 1250)
        return function(*args, **kwargs)
    chatty.__name__, chatty.__doc__ = function.__name__, function.__doc__
    return chatty


for _chatter_name, _chatter_function in list(globals().items()):
    if (type(_chatter_function) is type(_chatty) and not _chatter_name.startswith("_")
            and _chatter_function.__module__ == __name__):
        globals()[_chatter_name] = _chatty(_chatter_function)
"""


def stand_in_cost(roster: Path, count: int) -> tuple[int, float, float]:
    """(stand-in requests, seconds the grader spent waiting for their answers, seconds of
    grading) for the first `count` submissions of `roster`, graded in this process by one
    Grader; an answer's time is its round trip to the stand-in worker, computing included."""
    from autograder.grading import Grader
    from autograder.isolation.stand_in_worker import StandInWorker

    spent = [0, 0.0]
    answer = StandInWorker.answer

    def timed_answer(*args, **kwargs):
        started = time.perf_counter()
        try:
            return answer(*args, **kwargs)
        finally:
            spent[0] += 1
            spent[1] += time.perf_counter() - started

    StandInWorker.answer = timed_answer
    try:
        with Grader() as grader:
            started = time.perf_counter()
            grader.grade(sorted(roster.iterdir())[:count])
            return spent[0], spent[1], time.perf_counter() - started
    finally:
        StandInWorker.answer = answer


def write_sleeper(folder: Path, seconds: float = 9.5) -> None:
    """A submission whose every graded function (and class) sleeps `seconds` before answering."""
    from autograder import rubric as rubric_module

    rubric = rubric_module.load()
    folder.mkdir()
    for module in rubric.modules:
        names = [f.split(".", 1)[1] for q in rubric.questions for f in q.functions
                 if f.startswith(module + ".")]
        lines = ["import time\n\n", f"def _sleep(*args, **kwargs):\n    time.sleep({seconds})\n\n"]
        classes = sorted({n.split(".")[0] for n in names if "." in n})
        lines += [f"{n} = _sleep\n" for n in names if "." not in n]
        lines += [f"class {c}:\n    __init__ = _sleep\n    backward = _sleep\n\n" for c in classes]
        (folder / f"{module}.py").write_text("".join(lines))


def baseline(folder: Path, runs: int) -> float:
    """Seconds per submission: a fresh `python -m pytest` of the public tests for each one."""
    work = folder / "baseline"
    shutil.copytree(ROOT / "assignments", work)
    for module in (ROOT / "examples" / "submissions" / "correct").glob("*.py"):
        shutil.copy(module, work / module.name)
    started = time.perf_counter()
    for _ in range(runs):
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=work,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - started) / runs


def cold_runs(dlexam: list[str], folder: Path, runs: int, store: Path | None) -> float:
    """Median wall time of `runs` single-submission runs, each with an empty cache folder (and,
    with `store`, the reference store the autograder zip ships)."""
    times = []
    for run in range(runs):
        cache = folder / f"cache-{run}-{store is not None}"
        cache.mkdir()
        env = {"XDG_CACHE_HOME": str(cache)}
        if store is not None:
            env["DLEXAM_REFERENCES"] = str(store)
        seconds, _ = timed(dlexam + [str(EXAMPLES[0]), "--results", str(cache / "r"),
                                     "--json", str(cache / "one.json")], ROOT, env)
        times.append(seconds)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="submissions in the class (default 100)")
    parser.add_argument("--jobs", type=int, default=None, help="dlexam grade --jobs (default: its own)")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--baseline-runs", type=int, default=3)
    args = parser.parse_args()
    dlexam = [sys.executable, "-m", "autograder.cli", "grade", "--quiet", "--force"]
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []
    with tempfile.TemporaryDirectory(prefix="dlexam-bench-") as tmp:
        tmp = Path(tmp)
        per_baseline = baseline(tmp, args.baseline_runs)
        cold = cold_runs(dlexam, tmp, args.cold_runs, store=None)
        store = tmp / "references.json"   # built once, as `dlexam autograder` builds the zip's
        timed(dlexam + [str(EXAMPLES[0]), "--results", str(tmp / "r0")], ROOT,
              {"DLEXAM_REFERENCES": str(store)})
        cold_stored = cold_runs(dlexam, tmp, args.cold_runs, store=store)
        stored = {"DLEXAM_REFERENCES": str(store)}
        total, peak = timed(dlexam + jobs + [str(make_class(tmp, args.n)), "--results",
                                             str(tmp / "r2")], ROOT, stored, sample=True)
        hostile, _ = timed(dlexam + jobs + [str(make_class(tmp, args.n, HOSTILE)), "--results",
                                            str(tmp / "r3")], ROOT, stored)
        chatty, _ = timed(dlexam + jobs + [str(make_class(tmp, args.n, chatty=True)), "--results",
                                           str(tmp / "r4")], ROOT, stored)
        os.environ.update(stored)
        requests, answering, grading = stand_in_cost(tmp / "class", STAND_IN_SAMPLE)
    per = total / args.n
    print(f"machine: {os.cpu_count()} cores; jobs: {args.jobs or 'default'}")
    print(f"baseline, fresh interpreter + plain pytest per submission: {per_baseline:.2f} s")
    print(f"cold single submission, CLI start to JSON, median of {args.cold_runs}, empty cache: "
          f"{cold:.2f} s ({cold / per_baseline:.2f} x baseline)")
    print(f"cold single submission, reference store shipped (the autograder zip): "
          f"{cold_stored:.2f} s ({cold_stored / per_baseline:.2f} x baseline)")
    print(f"class of {args.n}: {total:.1f} s, {per:.3f} s per submission "
          f"({per / per_baseline:.3f} x baseline)")
    print(f"class of {args.n} with {HOSTILE} submissions sleeping in every call: {hostile:.1f} s "
          f"({hostile / total:.2f} x the clean class)")
    print(f"class of {args.n} whose correct copies print 10 KB per call: {chatty:.1f} s "
          f"({chatty / total:.2f} x the clean class)")
    print(f"stand-ins over {STAND_IN_SAMPLE} submissions graded in one process: {requests} "
          f"requests, answered in {answering:.2f} s of {grading:.1f} s grading "
          f"({100 * answering / grading:.1f}%)")
    print(f"peak memory of the class run (PSS of the process tree): {peak / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
