"""The `dlexam` command line.

  dlexam grade PATH... [--track M1|M2] [--json FILE] [--csv FILE] [--gradescope FILE]
               [--feedback DIR] [--jobs N] [--results DIR] [--force]
                                                       grade submissions (folders or .zip)
  dlexam report RESULTS_DIR --out DIR                  a class report (tables, charts)
  dlexam check [PART] [--dir DIR]                      a student's public checks, with an estimate
  dlexam validate                                      solutions score full marks, skeletons 0
  dlexam skeletons [--check]                           regenerate assignments/ from solutions/
  dlexam release OUT                                   the student bundle
  dlexam mutants [--jobs N]                            staff: mutation analysis of the suites
  dlexam autograder OUT.zip [--track M1|M2]            the otter / Gradescope autograder zip
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from autograder import rubric as rubric_module
from autograder.batch import default_jobs
from autograder.reports.gradescope import VISIBILITIES

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
    grade.add_argument("--csv", type=Path, metavar="FILE",
                       help="write a gradebook: a row per submission, a column per question")
    grade.add_argument("--gradescope", type=Path, metavar="FILE",
                       help="write Gradescope's results.json (a single submission only)")
    grade.add_argument("--visibility", choices=VISIBILITIES, default="after_published",
                       help="Gradescope visibility of the per-question rows (default: after_published)")
    grade.add_argument("--feedback", type=Path, metavar="DIR",
                       help="write one Markdown feedback file per submission into DIR")
    grade.add_argument("--jobs", type=int, default=default_jobs(), metavar="N",
                       help=f"grade N submissions in parallel (default: the cores, {default_jobs()})")
    grade.add_argument("--results", type=Path, default=Path("dlexam-results"), metavar="DIR",
                       help="one result file per submission, written as soon as it is graded; a "
                            "rerun skips submissions already graded by the same kit "
                            "(default: ./dlexam-results)")
    grade.add_argument("--force", action="store_true", help="regrade submissions already in --results")
    grade.add_argument("--quiet", action="store_true", help="no per-question tables")

    report = commands.add_parser("report", help="a class report from a results folder",
                                 description="Per-question means, full-mark rates, charts and the "
                                             "most frequent failures of a graded class.")
    report.add_argument("results", type=Path, metavar="RESULTS_DIR",
                        help="the --results folder of `dlexam grade`")
    report.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="where report.md and its PNG charts go")

    check = commands.add_parser("check", help="run the public tests on your own modules",
                                description="Run the public tests on the modules in DIR and "
                                            "print an estimate on the exam's point scale.")
    check.add_argument("part", nargs="?", type=int, choices=[1, 2, 3, 4, 5],
                       help="only this part of the exam")
    check.add_argument("--dir", type=Path, default=Path("."),
                       help="the folder holding your modules and tests/ (default: here)")

    commands.add_parser("validate", help="staff: solutions get full marks, skeletons get 0")
    skeletons = commands.add_parser("skeletons", help="staff: regenerate assignments/*.py and "
                                                      "examples/submissions/skeleton.zip")
    skeletons.add_argument("--check", action="store_true",
                           help="only report whether assignments/ is up to date (exit 1 if not)")
    release = commands.add_parser(
        "release", help="staff: write the student bundle",
        description="Write the student bundle into OUT: skeletons (by nbgrader when installed), "
                    "public tests, a README, and a pytest plugin that prints an estimate on the "
                    "exam's point scale. It works without dlexam installed.")
    release.add_argument("out", type=Path, metavar="OUT", help="a new (or empty) folder")
    autograder = commands.add_parser(
        "autograder", help="staff: write the otter-grader / Gradescope autograder zip",
        description="Write an autograder zip that `otter run`, `otter grade` and Gradescope "
                    "accept; it installs this kit and grades with its hidden suites and rubric. "
                    "Needs the staff extra: pip install \"dlexam[staff]\".")
    autograder.add_argument("out", type=Path, metavar="OUT.zip", help="the zip to write")
    autograder.add_argument("--track", choices=sorted(rubric_module.load().tracks), default="M2",
                            help="the track it grades (default: M2)")

    mutants = commands.add_parser(
        "mutants", help="staff: grade the mutant corpus, print the mutation score per question",
        description="Grade tests/corpus (one-bug mutants and correct variants): every variant must "
                    "get full marks, every mutant must lose points on its own question (and only "
                    "on declared others); prints caught and hint-named mutants per question.")
    mutants.add_argument("--jobs", type=int, default=default_jobs(), metavar="N")
    mutants.add_argument("--corpus", type=Path, default=None, metavar="DIR",
                         help="another corpus of the same form (mutants.toml, variants/); "
                              "default: tests/corpus")

    args = parser.parse_args(argv)
    console = Console()
    return {"grade": cmd_grade, "report": cmd_report, "check": cmd_check,
            "validate": cmd_validate, "skeletons": cmd_skeletons, "release": cmd_release,
            "autograder": cmd_autograder, "mutants": cmd_mutants}[args.command](args, console)


def cmd_grade(args, console: Console) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from autograder import batch
    from autograder.reports import feedback, gradebook, gradescope, json_report, table
    from autograder.scoring import SubmissionScore

    paths = batch.expand(args.paths)
    if args.gradescope and len(paths) != 1:
        console.print("[red]--gradescope writes the results of a single submission[/red]")
        return 2
    columns = [TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True, disable=len(paths) < 2) as progress:
        task = progress.add_task("grading", total=len(paths), rate="")
        started = time.monotonic()

        def on_progress(done: int, total: int) -> None:
            elapsed = time.monotonic() - started
            progress.update(task, completed=done, rate=f"{done / elapsed:.1f}/s" if elapsed > 1 else "")

        results = batch.grade_class(paths, args.track, args.jobs, args.results, args.force, on_progress)
    scores = [SubmissionScore.from_json(r) for r in results]
    if not args.quiet and len(scores) <= 3:
        for score in scores:
            table.render(score, console)
    if len(scores) > 1:
        table.render_summary(scores, console)
    console.print(f"results: {args.results}/ (one file per submission)")
    if args.json:
        json_report.write(scores, args.json)
    if args.csv:
        gradebook.write(scores, args.csv)
    if args.gradescope:
        gradescope.write(scores[0], args.gradescope, args.visibility)
    if args.feedback:
        for score in scores:
            feedback.write(score, args.feedback)
    written = [str(p) for p in (args.json, args.csv, args.gradescope, args.feedback) if p]
    if written:
        console.print("written: " + ", ".join(written))
    return 2 if all(s.status == "pipeline error" for s in scores) else 0


def cmd_report(args, console: Console) -> int:
    from autograder.reports import class_report

    try:
        path = class_report.write(args.results, args.out)
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        return 2
    console.print(f"class report: {path}")
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
        expected = skeleton.expected_skeletons(rubric)
        stale = [name for name, text in expected.items()
                 if not (skeleton.ASSIGNMENTS_DIR / name).exists()
                 or (skeleton.ASSIGNMENTS_DIR / name).read_text(encoding="utf-8") != text]
        if not skeleton.EXAMPLE_ZIP.exists() or skeleton.zip_contents(skeleton.EXAMPLE_ZIP) != expected:
            stale.append(skeleton.EXAMPLE_ZIP.name)
        console.print("assignments/ is up to date" if not stale
                      else f"out of date: {', '.join(stale)} (run `dlexam skeletons`)")
        return 1 if stale else 0
    changed = skeleton.write_skeletons(rubric)
    console.print(f"rewrote {', '.join(changed)}" if changed else "assignments/ was up to date")
    return 0


def cmd_release(args, console: Console) -> int:
    from autograder.release.bundle import write_bundle

    try:
        bundle = write_bundle(args.out, rubric_module.load())
    except FileExistsError as error:
        console.print(f"[red]{error}[/red]")
        return 2
    console.print(f"student bundle: {bundle.folder}/ ({len(bundle.files)} files; skeletons made by "
                  f"{bundle.generator})")
    return 0


def cmd_autograder(args, console: Console) -> int:
    import importlib.util

    if importlib.util.find_spec("otter") is None:
        console.print('[red]building the autograder needs otter-grader: pip install "dlexam[staff]"[/red]')
        return 2
    from autograder.release import otter

    path = otter.build(args.out, rubric_module.load(), args.track)
    console.print(f"autograder zip: {path} (track {args.track}); grade with "
                  f"`otter run -a {path.name} SUBMISSION.zip` or upload it to Gradescope")
    return 0


def cmd_mutants(args, console: Console) -> int:
    from autograder import mutation

    found, failures = mutation.analyse(args.corpus or mutation.CORPUS_DIR, jobs=args.jobs)
    for line in mutation.summary_lines(found):
        console.print(escape(line))
    for line in failures:
        console.print(f"[red]{escape(line)}[/red]")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
