"""The command line on the bundled examples, as a grader and course staff use it."""
import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

# Questions the partial example's documented mistakes (examples/build_partial.py) must cost;
# 5.1 too, because vae_forward calls the broken reparameterize.
PARTIAL_LOSES = {"1.3", "2.1", "2.7", "2.8", "3.1", "3.4", "4.2", "5.1", "5.3", "5.6"}


def dlexam(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "autograder.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def graded_examples(tmp_path_factory):
    out = tmp_path_factory.mktemp("examples")
    run = dlexam("grade", *sorted((ROOT / "examples" / "submissions").iterdir()),
                 "--json", out / "all.json", "--csv", out / "grades.csv",
                 "--feedback", out / "feedback", "--results", out / "results")
    return run, out


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
    assert all(q["points"] > 0 for q in partial["questions"] if q["id"] not in {"2.8", "3.4", "4.2"})


def test_gradebook_and_feedback_are_written(graded_examples):
    _, out = graded_examples
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[0].startswith("submission,Q1.1,") and len(rows) == 4
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["correct.md", "partial.md", "skeleton.md"]
    assert "Q1.3: implement output_layer_grads" in (out / "feedback" / "skeleton.md").read_text()


def test_a_rerun_reuses_the_results_folder(graded_examples):
    _, out = graded_examples
    before = {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    run = dlexam("grade", ROOT / "examples" / "submissions" / "correct", "--results", out / "results")
    assert run.returncode == 0 and "total 35/35" in run.stdout
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
    for command in ("grade", "report", "check", "validate", "skeletons"):
        assert command in run.stdout
