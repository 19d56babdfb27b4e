"""The `dlexam` command line.

  dlexam grade PATH... [--track M1|M2] [--json FILE]   grade submissions (folders or .zip)
  dlexam check [PART] [--dir DIR]                      a student's public checks, with an estimate
  dlexam validate                                      solutions score full marks, skeletons 0
  dlexam skeletons [--check]                           regenerate assignments/ from solutions/
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from autograder import rubric as rubric_module

EPILOG = """\
A submission is a folder or a .zip holding the exam's modules (mlp.py, training.py, softmax.py,
autodiff.py, cnn.py, vae.py, gan.py). Other files are ignored. Student code runs only in
sandboxed child processes; scores come from the hidden suites compared with PyTorch.
Exit status: 0 whenever grading ran (whatever the scores), 2 when it could not run.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dlexam", description="Autograding kit of the OPT8 deep-learning exam.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    grade = commands.add_parser("grade", help="grade submissions (folders or .zip files)",
                                description="Grade one or many submissions against the hidden suites.")
    grade.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                       help="a submission folder or .zip (several allowed, e.g. submissions/*)")
    grade.add_argument("--track", choices=sorted(rubric_module.load().tracks), default="M2",
                       help="M1: parts 1-4 (25 points, first year); M2: all parts (35 points). "
                            "Default: M2")
    grade.add_argument("--json", type=Path, metavar="FILE",
                       help="write the results as JSON (one object, or a list for several)")
    grade.add_argument("--quiet", action="store_true", help="no per-question tables")

    check = commands.add_parser("check", help="run the public tests on your own modules",
                                description="Run the public tests on the modules in DIR and "
                                            "print an estimate on the exam's point scale.")
    check.add_argument("part", nargs="?", type=int, choices=[1, 2, 3, 4, 5],
                       help="only this part of the exam")
    check.add_argument("--dir", type=Path, default=Path("."),
                       help="the folder holding your modules and tests/ (default: here)")

    commands.add_parser("validate", help="staff: solutions get full marks, skeletons get 0")
    skeletons = commands.add_parser("skeletons", help="staff: regenerate assignments/*.py")
    skeletons.add_argument("--check", action="store_true",
                           help="only report whether assignments/ is up to date (exit 1 if not)")

    args = parser.parse_args(argv)
    console = Console()
    return {"grade": cmd_grade, "check": cmd_check, "validate": cmd_validate,
            "skeletons": cmd_skeletons}[args.command](args, console)


def cmd_grade(args, console: Console) -> int:
    from autograder.grading import SuiteError, grade
    from autograder.reports import json_report, table

    try:
        scores = grade(args.paths, track=args.track)
    except SuiteError as error:
        console.print(f"[red]{error}[/red]")
        return 2
    for score in scores:
        if not args.quiet:
            table.render(score, console)
    if len(scores) > 1:
        for score in scores:
            console.print(f"{score.submission:30s} {score.total:6g}/{score.max:g}  on 20: {score.on20:g}")
    if args.json:
        json_report.write(scores, args.json)
        console.print(f"results written to {args.json}")
    return 0


def cmd_check(args, console: Console) -> int:
    from autograder.public import run_public_checks

    return run_public_checks(args.dir, args.part, console)


def cmd_validate(args, console: Console) -> int:
    from autograder.validate import validate

    return validate(console)


def cmd_skeletons(args, console: Console) -> int:
    from autograder import skeleton

    rubric = rubric_module.load()
    if args.check:
        stale = [name for name, text in skeleton.expected_skeletons(rubric).items()
                 if not (skeleton.ASSIGNMENTS_DIR / name).exists()
                 or (skeleton.ASSIGNMENTS_DIR / name).read_text(encoding="utf-8") != text]
        console.print("assignments/ is up to date" if not stale
                      else f"out of date: {', '.join(stale)} (run `dlexam skeletons`)")
        return 1 if stale else 0
    changed = skeleton.write_skeletons(rubric)
    console.print(f"rewrote {', '.join(changed)}" if changed else "assignments/ was up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
