"""Benchmark `dlexam grade`: cold single submission, a class of N, peak memory, and a baseline.

    python scripts/benchmark.py            # N = 100, default jobs
    python scripts/benchmark.py --n 20 --jobs 2

Prints:
- cold single submission: wall time of `dlexam grade examples/submissions/correct --json ...`,
  from CLI start to the JSON on disk (nothing cached: a fresh results folder);
- class of N: wall time of grading N copies of the example submissions (correct, partial,
  skeleton in turn) with the default jobs, and that time divided by N;
- peak memory of the whole run: the largest sum over the process tree (grader, workers, warm
  parents, sandboxed children) of each process's proportional set size (PSS), sampled every
  20 ms, so pages shared after fork are counted once;
- baseline: a fresh interpreter running plain pytest (the public tests) per submission, the way
  a naive autograder works, per submission.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "submissions").iterdir())


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


def timed(command: list[str], cwd: Path) -> tuple[float, int]:
    """(wall seconds, peak PSS of the process tree in KiB) of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], sum(pss_kib(p) for p in descendants(process.pid)))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, stderr = process.communicate()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr.decode()[-2000:]}")
    return time.perf_counter() - started, peak[0]


def make_class(folder: Path, n: int) -> Path:
    roster = folder / "class"
    roster.mkdir()
    for i in range(n):
        source = EXAMPLES[i % len(EXAMPLES)]
        target = roster / f"student{i:03d}{source.suffix}"
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    return roster


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="submissions in the class (default 100)")
    parser.add_argument("--jobs", type=int, default=None, help="dlexam grade --jobs (default: its own)")
    parser.add_argument("--baseline-runs", type=int, default=3)
    args = parser.parse_args()
    dlexam = [sys.executable, "-m", "autograder.cli", "grade", "--quiet", "--force"]
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []
    with tempfile.TemporaryDirectory(prefix="dlexam-bench-") as tmp:
        tmp = Path(tmp)
        cold, cold_peak = timed(dlexam + [str(EXAMPLES[0]), "--results", str(tmp / "r1"),
                                          "--json", str(tmp / "one.json")], ROOT)
        roster = make_class(tmp, args.n)
        total, peak = timed(dlexam + jobs + [str(roster), "--results", str(tmp / "r2")], ROOT)
        per_baseline = baseline(tmp, args.baseline_runs)
    print(f"machine: {os.cpu_count()} cores; jobs: {args.jobs or 'default'}")
    print(f"cold single submission (CLI start to JSON): {cold:.2f} s (peak {cold_peak / 1024:.0f} MiB)")
    print(f"class of {args.n}: {total:.1f} s, {total / args.n:.3f} s per submission")
    print(f"peak memory of the class run (PSS of the process tree): {peak / 1024:.0f} MiB")
    print(f"baseline, fresh interpreter + plain pytest per submission: {per_baseline:.2f} s")


if __name__ == "__main__":
    main()
