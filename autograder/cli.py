"""The `dlexam` command line.

  dlexam grade PATH... [--track M1|M2] [--json FILE] [--csv FILE] [--gradescope FILE]
               [--feedback DIR] [--jobs N] [--results DIR] [--force] [--quiet]
               [--skip-missing] [--shard K/N] [--call-seconds S] [--question-seconds S]
               [--submission-seconds S] [--unsafe-no-sandbox]
                                                       grade submissions (folders or .zip)
  dlexam merge RESULTS_DIR... [--json FILE] [--csv FILE] [--feedback DIR] [--quiet]
                                                       one gradebook from several results folders
  dlexam report RESULTS_DIR... --out DIR               a class report (tables, charts)
  dlexam check [PART] [--dir DIR]                      a student's public checks, with an estimate
  dlexam validate                                      solutions score full marks, skeletons 0
  dlexam skeletons [--check]                           regenerate assignments/ from solutions/
  dlexam release OUT                                   the student bundle
  dlexam mutants [--jobs N]                            staff: mutation analysis of the suites
  dlexam autograder OUT.zip [--track M1|M2]            the otter / Gradescope autograder zip
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from autograder import rubric as rubric_module
from autograder.batch import default_jobs
from autograder.isolation.sandbox import Limits, why_not_isolated
from autograder.reports.gradescope import VISIBILITIES

EPILOG = """\
A submission is a folder or a .zip holding the exam's modules (mlp.py, training.py, softmax.py,
autodiff.py, cnn.py, vae.py, gan.py). Other files are ignored. Student code runs only in
sandboxed child processes; scores come from the hidden suites compared with PyTorch.
Exit status: 0 whenever grading ran (whatever the scores), 2 when it could not run or a path
holds no submission.
"""


def positive_seconds(text: str) -> float:
    """A time budget in seconds: a number above 0."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, got {text!r}")
    return seconds


def shard(text: str) -> tuple[int, int]:
    """--shard K/N: the K-th of N shares of the submissions (1 <= K <= N)."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N such as 2/3, got {text!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"K/N needs 1 <= K <= N, got {text!r}")
    return k, n


def add_outputs(command: argparse.ArgumentParser) -> None:
    """The report options `grade` and `merge` share."""
    command.add_argument("--json", type=Path, metavar="FILE",
                         help="write the results as JSON (one object, or a list for several)")
    command.add_argument("--csv", type=Path, metavar="FILE",
                         help="write a gradebook: a row per submission, a column per question")
    command.add_argument("--feedback", type=Path, metavar="DIR",
                         help="write one Markdown feedback file per submission into DIR")
    command.add_argument("--quiet", action="store_true",
                         help="one line per submission (id, total, on 20, status), no table")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlexam", description="Autograding kit of the OPT8 deep-learning exam.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    grade = commands.add_parser(
        "grade", help="grade submissions (folders or .zip files)",
        description="Grade one or many submissions against the hidden suites, in parallel, into "
                    "one result file per submission (a rerun keeps the results of unchanged "
                    "submissions). A path that does not exist or holds no exam module stops the "
                    "run before anything is graded (exit status 2), unless --skip-missing.")
    grade.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                       help="a submission folder or .zip, or a class folder of them "
                            "(several allowed, e.g. submissions/*)")
    grade.add_argument("--track", choices=sorted(rubric_module.load().tracks), default="M2",
                       help="M1: parts 1-4 (25 points, first year); M2: all parts (35 points). "
                            "Default: M2")
    add_outputs(grade)
    grade.add_argument("--gradescope", type=Path, metavar="FILE",
                       help="write Gradescope's results.json (a single submission only)")
    grade.add_argument("--visibility", choices=VISIBILITIES, default="after_published",
                       help="Gradescope visibility of the per-question rows (default: after_published)")
    grade.add_argument("--jobs", type=int, default=default_jobs(), metavar="N",
                       help=f"grade N submissions in parallel (default: the cores, {default_jobs()})")
    grade.add_argument("--results", type=Path, default=Path("dlexam-results"), metavar="DIR",
                       help="one result file per submission, written as soon as it is graded; a "
                            "rerun keeps the results of submissions whose files and grading kit "
                            "did not change (default: ./dlexam-results)")
    grade.add_argument("--force", action="store_true", help="regrade submissions already in --results")
    grade.add_argument("--skip-missing", action="store_true",
                       help="grade the other paths when some hold no submission, and list those "
                            "with status \"no submission\" (no points, never a graded 0)")
    budgets = grade.add_argument_group(
        "time budgets", "Wall-clock time student code may use, whatever the machine's load. A "
        "call over its budget fails (that check only); a question or submission over its budget "
        "fails its remaining checks. A slow but in-limit program loses nothing.")
    budgets.add_argument("--call-seconds", type=positive_seconds, default=Limits.call_seconds,
                         metavar="S", help="one call into student code (default: %(default)s)")
    budgets.add_argument("--question-seconds", type=positive_seconds,
                         default=Limits.question_seconds, metavar="S",
                         help="all calls of one question (default: %(default)s)")
    budgets.add_argument("--submission-seconds", type=positive_seconds,
                         default=Limits.submission_seconds, metavar="S",
                         help="all calls of one submission (default: %(default)s)")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="grade where the machine refuses user namespaces (see the README's "
                            "sandbox table): student code then runs without namespaces, under a "
                            "uid of its own when grading as root, with the grader's rights "
                            "otherwise; every result says so. Only for code you trust")
    grade.add_argument("--shard", type=shard, metavar="K/N",
                       help="grade only the K-th of N shares of the submissions (chosen by a hash "
                            "of each submission's id: the same share whatever the order of the "
                            "paths); gather the shards' results folders with `dlexam merge`")

    merge = commands.add_parser(
        "merge", help="one gradebook from several results folders (the shards of a class)",
        description="Read the result files of one or several --results folders (e.g. one per "
                    "shard or machine), print the summary and write the same outputs as `dlexam "
                    "grade`. A submission found in two folders must have been graded from the "
                    "same files by the same kit.")
    merge.add_argument("results", nargs="+", type=Path, metavar="RESULTS_DIR",
                       help="a --results folder of `dlexam grade`")
    add_outputs(merge)

    report = commands.add_parser(
        "report", help="a class report from results folders",
        description="Per-question means, full-mark and not-attempted rates, misconceptions "
                    "counted in students, and charts (totals, questions, score per question "
                    "against the total) of a graded class.")
    report.add_argument("results", nargs="+", type=Path, metavar="RESULTS_DIR",
                        help="the --results folder of `dlexam grade` (several: the shards of a class)")
    report.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="where report.md and its PNG charts go")

    check = commands.add_parser("check", help="run the public tests on your own modules",
                                description="Run the public tests on the modules in DIR and "
                                            "print an estimate on the exam's point scale.")
    check.add_argument("part", nargs="?", type=int, choices=[1, 2, 3, 4, 5],
                       help="only this part of the exam")
    check.add_argument("--dir", type=Path, default=Path("."),
                       help="the folder holding your modules and tests/ (default: here)")

    commands.add_parser(
        "validate", help="staff: solutions get full marks, skeletons get 0",
        description="Grade solutions/ and assignments/ with the hidden suites: the reference "
                    "solutions must get every point of the graded questions, the skeletons 0. "
                    "Exit status 1 when not.")
    skeletons = commands.add_parser(
        "skeletons", help="staff: regenerate assignments/*.py and examples/submissions/skeleton.zip",
        description="Regenerate the student skeletons in assignments/ (and the skeleton example) "
                    "from the solution regions of solutions/.")
    skeletons.add_argument("--check", action="store_true",
                           help="only report whether assignments/ is up to date (exit 1 if not)")
    release = commands.add_parser(
        "release", help="staff: write the student bundle",
        description="Write the student bundle into OUT: skeletons (by nbgrader's ClearSolutions), "
                    "public tests, a README, and a pytest plugin that prints an estimate on the "
                    "exam's point scale. It works without dlexam installed.")
    release.add_argument("out", type=Path, metavar="OUT", help="a new (or empty) folder")
    autograder = commands.add_parser(
        "autograder", help="staff: write the otter-grader / Gradescope autograder zip",
        description="Write an autograder zip that `otter run`, `otter grade` and Gradescope "
                    "accept; it installs this kit and grades with its hidden suites and rubric. "
                    "Needs the staff extra: pip install \"dlexam[staff]\".")
    autograder.add_argument("out", type=Path, metavar="OUT.zip",
                            help="the zip to write (.zip is added to a name without extension)")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    return {"grade": cmd_grade, "merge": cmd_merge, "report": cmd_report, "check": cmd_check,
            "validate": cmd_validate, "skeletons": cmd_skeletons, "release": cmd_release,
            "autograder": cmd_autograder, "mutants": cmd_mutants}[args.command](args, console)


def cmd_grade(args, console: Console) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from autograder import batch, intake
    from autograder.reports import gradescope
    from autograder.scoring import SubmissionScore

    paths = batch.expand(args.paths)
    if args.shard:
        k, n = args.shard
        mine = [p for p in paths if batch.in_shard(intake.submission_id(p), k, n)]
        if not args.quiet:
            console.print(f"shard {k}/{n}: {len(mine)} of {len(paths)} submissions")
        if not mine:
            return 0
        paths = mine
    if args.gradescope and len(paths) != 1:
        console.print("[red]--gradescope writes the results of a single submission[/red]")
        return 2
    limits = Limits(call_seconds=args.call_seconds, question_seconds=args.question_seconds,
                    submission_seconds=args.submission_seconds)
    isolate = not args.unsafe_no_sandbox
    refused = why_not_isolated() if isolate else None
    if refused:
        console.print(f"[red]This machine cannot sandbox student code: "
                      f"{escape(refused)}.[/red]\nSee the README's sandbox section; "
                      "--unsafe-no-sandbox grades anyway, without namespaces.", soft_wrap=True)
        return 2
    entries = batch.survey(paths, args.track, limits=limits, isolate=isolate)
    clashing = batch.clashes(entries)
    if clashing:
        console.print("[red]Some paths would share one result file (their names differ only by "
                      ".zip or by characters a file name cannot hold); nothing was graded:[/red]")
        for group in clashing:
            console.print("  " + " and ".join(escape(str(e.path)) for e in group), soft_wrap=True)
        console.print("Rename one of each group so that every submission keeps its own result.")
        return 2
    missing = [e for e in entries if e.empty]
    if missing and not args.skip_missing:
        console.print(f"[red]{len(missing)} of {len(entries)} paths hold no submission; nothing "
                      "was graded:[/red]")
        for e in missing:
            why = "holds no exam module" if os.path.lexists(e.path) else "does not exist"
            console.print(f"  {escape(str(e.path))}: {why}", soft_wrap=True)
        console.print("Check them, or pass --skip-missing to grade the others and to list these\n"
                      "as \"no submission\".")
        return 2
    columns = [TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True,
                  disable=len(paths) < 2 or not console.is_terminal) as progress:
        task = progress.add_task("grading", total=len(paths), rate="")
        started = time.monotonic()

        def on_progress(done: int, total: int) -> None:
            elapsed = time.monotonic() - started
            progress.update(task, completed=done, rate=f"{done / elapsed:.1f}/s" if elapsed > 1 else "")

        run = batch.grade_entries(entries, args.track, args.jobs, args.results, args.force,
                                  on_progress, limits=limits, isolate=isolate)
    scores = sorted((SubmissionScore.from_json(r) for r in run.results), key=lambda s: s.submission)
    show(scores, args.quiet, console, run.reused)
    if not args.quiet:
        folder = escape(str(args.results))
        if run.reused:
            console.print(f"reused {len(run.reused)} of {len(scores)} results in {folder}/ "
                          "(unchanged files, same kit; --force regrades)", soft_wrap=True)
        console.print(f"results: {folder}/ (one file per submission)", soft_wrap=True)
    if args.gradescope:
        gradescope.write(scores[0], args.gradescope, args.visibility)
    write_outputs(scores, args, console, extra=[args.gradescope])
    return 2 if all(s.status == "pipeline error" for s in scores) else 0


def show(scores, quiet: bool, console: Console, reused: set[str] = frozenset()) -> None:
    """A table per submission (up to three) and a summary table; with `quiet`, a line each."""
    from autograder.reports import table

    if quiet:
        for s in scores:
            console.print(table.one_line(s) + ("  (reused)" if s.submission in reused else ""),
                          markup=False, highlight=False, soft_wrap=True)
        return
    if len(scores) <= 3:
        for score in scores:
            table.render(score, console)
    if len(scores) > 1:
        table.render_summary(scores, console)


def write_outputs(scores, args, console: Console, extra=()) -> None:
    """The --json, --csv and --feedback files of `grade` and `merge`."""
    from autograder.reports import feedback, gradebook, json_report

    if args.json:
        json_report.write(scores, args.json)
    if args.csv:
        gradebook.write(scores, args.csv)
    if args.feedback:
        for score in scores:
            feedback.write(score, args.feedback)
    written = [str(p) for p in (args.json, args.csv, *extra, args.feedback) if p]
    if written and not args.quiet:
        console.print("written: " + escape(", ".join(written)), soft_wrap=True)


def cmd_merge(args, console: Console) -> int:
    from autograder.reports import results

    try:
        scores = results.load(args.results)
        if not scores:
            raise ValueError(f"no result files in {' '.join(map(str, args.results))}")
        show(scores, args.quiet, console)
        write_outputs(scores, args, console)
    except ValueError as error:
        console.print(f"[red]{escape(str(error))}[/red]")
        return 2
    return 0


def cmd_report(args, console: Console) -> int:
    from autograder.reports import class_report

    try:
        path = class_report.write(args.results, args.out)
    except ValueError as error:
        console.print(f"[red]{escape(str(error))}[/red]")
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
    try:
        skeleton.require_nbgrader()
    except skeleton.NbgraderMissing as error:
        console.print(f"[red]{escape(str(error))}[/red]")
        return 2
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
    from autograder import skeleton
    from autograder.release.bundle import write_bundle

    try:
        bundle = write_bundle(args.out, rubric_module.load())
    except (FileExistsError, skeleton.NbgraderMissing) as error:
        console.print(f"[red]{escape(str(error))}[/red]")
        return 2
    console.print(f"student bundle: {bundle.folder}/ ({len(bundle.files)} files; skeletons made by "
                  "nbgrader's ClearSolutions)")
    return 0


def cmd_autograder(args, console: Console) -> int:
    import importlib.util

    from autograder.release.otter import zip_path

    try:
        out = zip_path(args.out)
    except ValueError as error:
        console.print(f"[red]{escape(str(error))}[/red]")
        return 2
    if importlib.util.find_spec("otter") is None:
        console.print('[red]building the autograder needs otter-grader: pip install "dlexam[staff]"[/red]')
        return 2
    from autograder.release import otter

    path = otter.build(out, rubric_module.load(), args.track)
    added = " (.zip added)" if out != args.out else ""
    console.print(f"autograder zip: {path}{added} (track {args.track}); grade with "
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
