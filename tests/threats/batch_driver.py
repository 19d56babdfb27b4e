"""Grade the threat batch and write what a test can only observe during the run, as JSON.

    python tests/threats/batch_driver.py RUN.json OUT.json

RUN.json: {"names": [...], "paths": [...], "suites": dir, "results": dir}. Run as root or as an
unprivileged user (tests/unprivileged.py), so both modes are observed the same way. Per
submission: its score, how long it took, which sandbox processes were alive when its result was
written (there must be none), the results file text written, and whether its table renders.
"""
import io
import json
import os
import resource
import sys
import time
from pathlib import Path

from rich.console import Console

from autograder.grading import Grader
from autograder.isolation.sandbox import Limits
from autograder.output_files import safe_name, write_atomic
from autograder.reports import table

LIMITS = Limits(call_seconds=4.0, question_seconds=12.0, submission_seconds=40.0,
                cpu_seconds=60, data_bytes=1024 ** 3, memory_bytes=3 * 2 ** 29, processes=32)


def descendants(pids: list[int]) -> list[int]:
    """Living (not zombie) processes whose ancestry includes one of `pids`."""
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
    for candidate, state in states.items():
        p = candidate
        while p > 1:
            p = parents.get(p, 0)
            if p in pids and state not in (b"Z", b"X"):
                found.append(candidate)
                break
    return found


def render(score) -> str | None:
    """None when the score's table renders, else the error."""
    try:
        table.render(score, Console(file=io.StringIO(), width=120, force_terminal=True))
        return None
    except Exception as error:   # noqa: BLE001 - reported to the test
        return repr(error)


def main(run: dict) -> dict:
    names, results = run["names"], Path(run["results"])
    out = {"scores": {}, "seconds": {}, "leftovers": {}, "written": {}, "render_errors": {}}
    with Grader("M2", limits=LIMITS, suites=Path(run["suites"])) as grader:
        zygotes = [p.process.pid for p in grader.sandbox.parents.values()]
        last = start = time.monotonic()

        def graded(index, score):
            nonlocal last
            name = names[index]
            out["seconds"][name], last = time.monotonic() - last, time.monotonic()
            out["leftovers"][name] = descendants(zygotes)
            text = json.dumps(score.to_json(), indent=1)
            write_atomic(results / f"{safe_name(score.submission)}.json", text)
            out["written"][name] = text
            out["scores"][name] = score.to_json()
            out["render_errors"][name] = render(score)

        grader.grade([Path(p) for p in run["paths"]], on_graded=graded)
        out["total_seconds"] = time.monotonic() - start
    out["grader_peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


if __name__ == "__main__":
    result = main(json.loads(Path(sys.argv[1]).read_text()))
    Path(sys.argv[2]).write_text(json.dumps(result))
