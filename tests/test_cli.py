"""The command line on the bundled examples, as a grader and course staff use it."""
import csv
import json
import os
import shutil
import stat

import pytest
from helpers import EXAMPLES, dlexam

from conftest import ROOT

# Questions the partial example's documented mistakes (examples/build_partial.py) must cost;
# only those: vae_forward (5.1) is graded with the kit's reparameterize in place of the broken one.
PARTIAL_LOSES = {"1.3", "2.1", "2.7", "2.8", "3.1", "3.4", "4.2", "5.3", "5.6"}


def test_grade_examples_exits_0_and_prints_tables_and_a_summary(graded_examples):
    run, _ = graded_examples
    assert run.returncode == 0, run.stderr
    assert "correct" in run.stdout and "3 submissions" in run.stdout
    assert "total 35/35" in run.stdout and "total 0/35" in run.stdout


def test_the_json_follows_the_contract(graded_examples):
    _, out = graded_examples
    results = {r["submission"]: r for r in json.loads((out / "all.json").read_text())}
    assert set(results) == {"correct", "partial", "skeleton"}
    for r in results.values():
        assert {"submission", "track", "total", "max", "on20", "questions"} <= set(r)
        assert [q["id"] for q in r["questions"]][:3] == ["1.1", "1.2", "1.3"] and len(r["questions"]) == 24
        for q in r["questions"]:
            assert {"id", "part", "title", "points", "max", "tests"} <= set(q)
            assert all({"name", "passed", "weight", "message"} <= set(t) for t in q["tests"])
    assert results["correct"]["total"] == 35 and results["correct"]["on20"] == 20
    assert results["skeleton"]["total"] == 0


def test_the_partial_example_loses_points_exactly_where_its_mistakes_are(graded_examples):
    _, out = graded_examples
    partial = next(r for r in json.loads((out / "all.json").read_text()) if r["submission"] == "partial")
    lost = {q["id"] for q in partial["questions"] if q["points"] < q["max"]}
    assert lost == PARTIAL_LOSES
    # Questions whose every check meets the mistake (3.4 unimplemented, 5.6's formula) score 0; the rest keep some.
    assert all(q["points"] > 0 for q in partial["questions"] if q["id"] not in {"3.4", "5.6"})


def test_gradebook_and_feedback_are_written(graded_examples):
    _, out = graded_examples
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[0].startswith("submission,Q1.1,") and len(rows) == 4
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["correct.md", "partial.md", "skeleton.md"]
    assert "Q1.3: implement output_layer_grads" in (out / "feedback" / "skeleton.md").read_text()


def test_a_rerun_reuses_the_results_folder_and_says_so(graded_examples):
    _, out = graded_examples
    before = {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    run = dlexam("grade", ROOT / "examples" / "submissions" / "correct", "--results", out / "results")
    assert run.returncode == 0 and "total 35/35" in run.stdout
    assert "reused 1 of 1 results" in run.stdout
    assert (out / "results" / "correct.json").stat().st_mtime_ns == before["correct.json"]


def test_validate_passes_on_the_kit():
    run = dlexam("validate")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "solutions: 35/35" in run.stdout and "skeletons: 0/35" in run.stdout


def test_check_estimates_points_from_the_public_tests(tmp_path):
    folder = tmp_path / "student"
    shutil.copytree(ROOT / "assignments", folder)
    shutil.copy(ROOT / "solutions" / "softmax.py", folder / "softmax.py")
    run = dlexam("check", "3", "--dir", folder)
    assert run.returncode == 0, run.stderr
    assert "3.1" in run.stdout and "estimate" in run.stdout


def test_help_names_every_command():
    run = dlexam("--help")
    for command in ("grade", "merge", "report", "check", "validate", "skeletons", "release",
                    "autograder", "mutants"):
        assert command in run.stdout


def test_every_command_has_a_description_in_its_help(capsys):
    from autograder.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert len(commands) == 9
    for name in commands:
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args([name, "--help"])
        assert exit_.value.code == 0
        paragraphs = capsys.readouterr().out.split("\n\n")
        # usage, then the description, then the arguments
        assert not paragraphs[1].startswith(("positional arguments:", "options:")), name


def test_grade_output_fits_80_columns_when_piped_and_never_cuts_a_number(graded_examples):
    from autograder.reports.table import pts

    run, out = graded_examples
    lines = [line for line in run.stdout.splitlines()   # not the lines naming output paths
             if not line.startswith(("results: ", "written: "))]
    assert max(map(len, lines)) <= 80 and "…" not in run.stdout
    for r in json.loads((out / "all.json").read_text()):
        row = [line.split() for line in lines if line.startswith(r["submission"] + " ")][-1]
        numbers = [pts(p["points"]) for p in r["parts"].values()] + [pts(r["total"]), pts(r["on20"])]
        assert row == [r["submission"], *numbers, r["status"]]


def test_quiet_prints_one_line_per_submission_with_its_total(graded_examples):
    from autograder.reports.table import pts

    _, out = graded_examples
    results = sorted(json.loads((out / "all.json").read_text()), key=lambda r: r["submission"])
    run = dlexam("grade", *EXAMPLES, "--results", out / "results", "--quiet")
    assert run.returncode == 0
    assert run.stdout.splitlines() == [
        f"{r['submission']}  {pts(r['total'])}/{pts(r['max'])}  on 20: {pts(r['on20'])}  "
        f"{r['status']}  (reused)" for r in results]
    one = dlexam("grade", ROOT / "examples" / "submissions" / "correct", "--results",
                 out / "results", "--quiet")
    assert one.stdout == "correct  35/35  on 20: 20  graded  (reused)\n"


def test_paths_that_hold_no_submission_stop_the_run_before_anything_is_graded(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.txt").write_text("my answers are in the other folder")
    run = dlexam("grade", ROOT / "examples" / "submissions" / "correct", tmp_path / "nope.zip",
                 tmp_path / "empty", tmp_path / "notes", "--results", tmp_path / "results")
    assert run.returncode == 2
    assert "3 of 4 paths hold no submission" in run.stdout
    assert f"{tmp_path / 'nope.zip'}: does not exist" in run.stdout
    assert f"{tmp_path / 'empty'}: holds no exam module" in run.stdout
    assert f"{tmp_path / 'notes'}: holds no exam module" in run.stdout
    assert "total" not in run.stdout and not (tmp_path / "results").exists()


def test_skip_missing_lists_them_as_no_submission_never_as_a_graded_zero(graded_examples, tmp_path):
    _, out = graded_examples
    results = tmp_path / "results"
    shutil.copytree(out / "results", results)   # the correct example is not graded again
    run = dlexam("grade", ROOT / "examples" / "submissions" / "correct", tmp_path / "nope.zip",
                 "--skip-missing", "--results", results, "--csv", tmp_path / "grades.csv",
                 "--json", tmp_path / "all.json", "--feedback", tmp_path / "feedback")
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {r["submission"]: r for r in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert rows["correct"]["total"] == "35" and rows["correct"]["status"] == "graded"
    nope = rows["nope"]
    assert nope["status"] == "no submission" and nope["max"] == "35"
    assert {value for column, value in nope.items()
            if column.startswith(("Q", "part")) or column in ("total", "on20")} == {""}
    data = {r["submission"]: r for r in json.loads((tmp_path / "all.json").read_text())}
    assert data["nope"]["total"] is None and data["nope"]["on20"] is None
    assert data["nope"]["questions"] == [] and data["nope"]["status"] == "no submission"
    assert json.loads((results / "nope.json").read_text())["status"] == "no submission"
    words = " ".join(run.stdout.split())   # long lines wrap at 80 columns
    assert "nope: no submission" in words and "nope.zip: no such file or folder" in words
    assert "No grade" in (tmp_path / "feedback" / "nope.md").read_text()


def test_written_files_are_readable_like_the_charts(graded_examples, tmp_path):
    _, out = graded_examples
    assert dlexam("report", out / "results", "--out", tmp_path / "report").returncode == 0
    umask = os.umask(0)
    os.umask(umask)
    files = [out / "results" / "partial.json", out / "all.json", out / "grades.csv",
             out / "feedback" / "partial.md", tmp_path / "report" / "report.md",
             tmp_path / "report" / "totals.png"]
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {
        f.name: 0o666 & ~umask for f in files}


def test_the_autograder_zip_gets_its_extension_or_is_refused(tmp_path):
    from autograder.cli import main
    from autograder.release.otter import zip_path

    assert zip_path(tmp_path / "autograder") == tmp_path / "autograder.zip"
    assert zip_path(tmp_path / "autograder.ZIP") == tmp_path / "autograder.ZIP"
    with pytest.raises(ValueError, match="autograder.zip"):
        zip_path(tmp_path / "autograder.tar")
    assert main(["autograder", str(tmp_path / "autograder.tar")]) == 2
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def sharded_class(tmp_path_factory):
    """A class of six (the examples twice) and a missing path, graded in one run and in three
    shards on as many "machines", each into its own results folder, then merged."""
    tmp = tmp_path_factory.mktemp("sharded")
    roster = tmp / "class"
    roster.mkdir()
    for example, other in zip(EXAMPLES, ("alice", "bob.zip", "carol.zip")):
        for name in (example.name, other):
            (shutil.copytree if example.is_dir() else shutil.copy)(example, roster / name)
    members = sorted(roster.iterdir())
    runs = {"single": dlexam("grade", roster, tmp / "dave.zip", "--skip-missing", "--results",
                             tmp / "single", "--csv", tmp / "single.csv", "--json",
                             tmp / "single.json", "--quiet")}
    for k in (1, 2, 3):
        paths = [*members[::-1], tmp / "dave.zip"] if k == 2 else [roster, tmp / "dave.zip"]
        runs[k] = dlexam("grade", *paths, "--shard", f"{k}/3", "--skip-missing", "--results",
                         tmp / f"shard{k}", "--quiet")
    runs["merge"] = dlexam("merge", *(tmp / f"shard{k}" for k in (1, 2, 3)), "--csv",
                           tmp / "merged.csv", "--json", tmp / "merged.json")
    return tmp, runs


def test_a_class_split_in_three_shards_and_merged_gives_the_same_gradebook(sharded_class):
    tmp, runs = sharded_class
    assert all(run.returncode == 0 for run in runs.values()), {k: r.stderr for k, r in runs.items()}
    assert (tmp / "merged.csv").read_bytes() == (tmp / "single.csv").read_bytes()
    assert (tmp / "merged.json").read_bytes() == (tmp / "single.json").read_bytes()
    assert len((tmp / "single.csv").read_text().splitlines()) == 1 + 7
    assert "dave,,," in (tmp / "single.csv").read_text()


def test_shards_are_disjoint_and_cover_the_class_in_the_same_layout(sharded_class):
    tmp, runs = sharded_class
    shards = [sorted(p.name for p in (tmp / f"shard{k}").iterdir()) for k in (1, 2, 3)]
    assert all(shards) and sorted(sum(shards, [])) == sorted(p.name for p in (tmp / "single").iterdir())
    assert [len(runs[k].stdout.splitlines()) for k in (1, 2, 3)] == [len(s) for s in shards]


def test_the_class_report_of_the_shards_is_the_class_report_of_one_run(sharded_class):
    tmp, _ = sharded_class
    assert dlexam("report", tmp / "single", "--out", tmp / "report-single").returncode == 0
    assert dlexam("report", tmp / "shard1", tmp / "shard2", tmp / "shard3",
                  "--out", tmp / "report-shards").returncode == 0
    assert ((tmp / "report-shards" / "report.md").read_text()
            == (tmp / "report-single" / "report.md").read_text())


def test_merge_refuses_two_different_results_for_one_submission(graded_examples, tmp_path):
    _, out = graded_examples
    shutil.copytree(out / "results", tmp_path / "a")
    shutil.copytree(out / "results", tmp_path / "b")
    result = json.loads((tmp_path / "b" / "partial.json").read_text())
    result["fingerprint"] = "regraded-after-a-change"
    (tmp_path / "b" / "partial.json").write_text(json.dumps(result))
    run = dlexam("merge", tmp_path / "a", tmp_path / "b", "--csv", tmp_path / "grades.csv")
    assert run.returncode == 2 and "partial has different results" in run.stdout
    assert not (tmp_path / "grades.csv").exists()


def test_unsafe_mode_grades_alike_says_so_everywhere_and_never_reuses_a_sandboxed_result(
        graded_examples, tmp_path):
    _, out = graded_examples
    shutil.copytree(out / "results", tmp_path / "results")
    partial = next(p for p in EXAMPLES if p.stem == "partial")
    run = dlexam("grade", partial, "--unsafe-no-sandbox", "--quiet", "--results", tmp_path / "results",
                 "--csv", tmp_path / "grades.csv")
    mode = "own uid" if os.geteuid() == 0 else "none"
    sandboxed = json.loads((out / "results" / "partial.json").read_text())
    unsafe = json.loads((tmp_path / "results" / "partial.json").read_text())
    assert run.returncode == 0 and f"(sandbox: {mode})" in run.stdout and "(reused)" not in run.stdout
    assert unsafe["total"] == sandboxed["total"] and unsafe["sandbox"] == mode
    assert unsafe["fingerprint"] != sandboxed["fingerprint"] and unsafe["warnings"]
    assert next(csv.DictReader(open(tmp_path / "grades.csv")))["sandbox"] == mode


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_time_budget_that_is_not_a_positive_number_is_refused(value):
    run = dlexam("grade", EXAMPLES[0], "--call-seconds", value)
    assert run.returncode == 2 and "--call-seconds" in run.stderr


def test_two_paths_that_would_share_a_result_file_stop_the_run(tmp_path):
    correct = next(p for p in EXAMPLES if p.name == "correct")
    shutil.copytree(correct, tmp_path / "alice")
    shutil.make_archive(str(tmp_path / "alice"), "zip", correct)
    shutil.copytree(correct, tmp_path / "a b")
    shutil.copytree(correct, tmp_path / "a_b")
    run = dlexam("grade", tmp_path / "alice", tmp_path / "alice.zip", tmp_path / "a b",
                 tmp_path / "a_b", "--results", tmp_path / "results")
    assert run.returncode == 2 and "share one result file" in run.stdout
    assert "alice.zip" in run.stdout and "a_b" in run.stdout
    assert not (tmp_path / "results").exists()
