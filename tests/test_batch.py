"""Grading a class: result files, resume, crashes, gradebook, Gradescope, feedback, report."""
import csv
import importlib.metadata
import json
import os
import shutil

import jsonschema
import pytest
from helpers import GOOD, make_submission, make_suites

from autograder import batch, intake
from autograder.reports import class_report, feedback, gradebook, gradescope
from autograder.scoring import SubmissionScore

PARTIAL = "def double(x):\n    return x\n\ndef slow():\n    return None\n"

# Gradescope's results.json, as its autograder specification describes it.
GRADESCOPE_SCHEMA = {
    "type": "object",
    "required": ["tests"],
    "properties": {
        "score": {"type": "number"},
        "output": {"type": "string"},
        "visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
        "stdout_visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
        "tests": {"type": "array", "items": {
            "type": "object",
            "required": ["score", "max_score", "name"],
            "properties": {
                "score": {"type": "number"}, "max_score": {"type": "number"},
                "status": {"enum": ["passed", "failed"]}, "name": {"type": "string"},
                "number": {"type": "string"}, "output": {"type": "string"},
                "visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
            },
            "additionalProperties": False,
        }},
    },
}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """A class of three (good, partial, empty) graded by two workers on a small suite."""
    tmp = tmp_path_factory.mktemp("class")
    roster = tmp / "roster"
    roster.mkdir()
    make_submission(roster, "good", GOOD)
    make_submission(roster, "partial", PARTIAL)
    (roster / "empty").mkdir()
    suites = make_suites(tmp)
    paths = batch.expand([roster])
    progress = []
    results = batch.grade_class(paths, "M2", jobs=2, results_dir=tmp / "results",
                                on_progress=lambda done, total: progress.append((done, total)),
                                suites=suites)
    return {"tmp": tmp, "paths": paths, "suites": suites, "results": results, "progress": progress,
            "scores": [SubmissionScore.from_json(r) for r in results]}


def test_a_class_folder_expands_to_its_submissions(graded_class):
    assert [p.name for p in graded_class["paths"]] == ["empty", "good", "partial"]
    single = graded_class["tmp"] / "roster" / "good"
    assert batch.expand([single]) == [single]


def test_each_submission_has_its_result_file_with_a_fingerprint(graded_class):
    files = sorted(os.listdir(graded_class["tmp"] / "results"))
    assert files == ["empty.json", "good.json", "partial.json"]
    good = json.loads((graded_class["tmp"] / "results" / "good.json").read_text())
    assert good["total"] == 2 and good["fingerprint"] and good["submission"] == "good"
    assert graded_class["progress"][-1] == (3, 3)
    assert [s.total for s in graded_class["scores"]] == [None, 2, 1.5]


def test_a_folder_without_exam_modules_is_no_submission_never_a_graded_zero(graded_class):
    empty = graded_class["scores"][0]
    assert empty.submission == "empty" and empty.status == batch.NO_SUBMISSION
    assert empty.total is None and empty.on20 is None and empty.questions == []
    assert any("no exam module" in p for p in empty.problems)


def test_a_rerun_resumes_and_force_regrades(graded_class):
    folder = graded_class["tmp"] / "results"
    before = {f: os.stat(folder / f).st_mtime_ns for f in os.listdir(folder)}
    progress = []
    again = batch.grade_class(graded_class["paths"], "M2", jobs=2, results_dir=folder,
                              on_progress=lambda d, t: progress.append(d), suites=graded_class["suites"])
    assert progress == [3] and again == graded_class["results"]
    assert {f: os.stat(folder / f).st_mtime_ns for f in os.listdir(folder)} == before
    (graded_class["tmp"] / "roster" / "partial" / "softmax.py").write_text(GOOD)   # resubmitted
    batch.grade_class(graded_class["paths"], "M2", jobs=1, results_dir=folder, suites=graded_class["suites"])
    after = {f: os.stat(folder / f).st_mtime_ns for f in os.listdir(folder)}
    assert after["partial.json"] != before["partial.json"] and after["good.json"] == before["good.json"]
    batch.grade_class(graded_class["paths"], "M2", jobs=1, results_dir=folder, force=True,
                      suites=graded_class["suites"])
    assert os.stat(folder / "good.json").st_mtime_ns != before["good.json"]


def test_a_submission_that_crashes_the_pipeline_is_reported_and_the_rest_go_on(tmp_path, monkeypatch):
    make_submission(tmp_path, "fine", GOOD)
    make_submission(tmp_path, "crasher", GOOD)
    real_take = intake.take

    def take(path, workdir, modules):
        if path.name == "crasher":
            raise RuntimeError("intake exploded")
        return real_take(path, workdir, modules)

    monkeypatch.setattr(intake, "take", take)
    fine, crasher = batch.grade_class([tmp_path / "fine", tmp_path / "crasher"], "M2", jobs=1,
                                      results_dir=tmp_path / "results", suites=make_suites(tmp_path))
    assert fine["total"] == 2 and fine["status"] == "graded"
    assert crasher["status"] == "pipeline error" and crasher["total"] == 0
    assert "intake exploded" in crasher["problems"][0]
    assert (tmp_path / "results" / "crasher.json").exists()


def test_the_gradebook_has_a_column_per_question_and_the_totals(graded_class, tmp_path):
    gradebook.write(graded_class["scores"], tmp_path / "grades.csv")
    rows = list(csv.DictReader(open(tmp_path / "grades.csv")))
    header = list(rows[0])
    assert header[0] == "submission" and header[1:4] == ["Q1.1", "Q1.2", "Q1.3"]
    assert header[24] == "Q5.7" and header[25:30] == [f"part{p}" for p in range(1, 6)]
    assert header[30:] == ["total", "max", "on20", "status", "sandbox"]
    partial = next(r for r in rows if r["submission"] == "partial")
    assert (partial["Q3.1"], partial["Q1.2"], partial["part3"], partial["total"]) == ("0.5", "1", "0.5", "1.5")
    assert partial["max"] == "35" and partial["on20"] == "0.86" and partial["status"] == "graded"
    assert partial["sandbox"] == "namespaces"


def test_gradescope_results_follow_the_specification(graded_class):
    partial = graded_class["scores"][2]
    data = gradescope.results(partial)
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    assert len(data["tests"]) == 24 and data["score"] == 1.5
    row = next(t for t in data["tests"] if t["number"] == "3.1")
    assert row["score"] == 0.5 and row["max_score"] == 1 and row["status"] == "failed"
    assert "double(x)" in row["output"] and row["visibility"] == "after_published"
    assert gradescope.results(partial, "visible")["tests"][0]["visibility"] == "visible"


def test_feedback_names_failed_checks_and_what_to_look_at(graded_class, tmp_path):
    path = feedback.write(graded_class["scores"][2], tmp_path)
    text = path.read_text()
    assert path.name == "partial.md" and "**Total: 1.5 / 35**" in text
    assert "## Q3.1" in text and "values differ" in text and "`softmax.softmax`" in text
    assert "## Q1.2 — SGD parameter update: 1 / 1" in text


def test_the_class_report_has_charts_and_frequent_failures(graded_class, tmp_path):
    report = class_report.write([graded_class["tmp"] / "results"], tmp_path / "report")
    text = report.read_text()
    assert "# Class report — 2 students" in text and "`empty` (no submission)" in text
    assert "| Q3.1 |" in text and "Misconceptions and failures" in text
    for png in ("totals.png", "questions.png", "separation.png"):
        data = (tmp_path / "report" / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000


def fingerprint(folder):
    return batch.survey([folder], "M2")[0].fingerprint


def test_the_fingerprint_changes_when_bytes_move_across_a_file_boundary(tmp_path):
    # Names and bytes hashed back to back made these the same stream: "mlp.py" "B = 2\n"
    # "softmax.py" "A = 1\n", so the second kept the first's result.
    two_files = make_submission(tmp_path, "two_files", "A = 1\n", mlp="B = 2\n")
    one_file = tmp_path / "one_file"
    one_file.mkdir()
    (one_file / "mlp.py").write_text("B = 2\nsoftmax.pyA = 1\n")
    assert fingerprint(two_files) != fingerprint(one_file)


def test_the_fingerprint_reads_every_accepted_file_whatever_comes_first(tmp_path):
    folder = make_submission(tmp_path, "big", GOOD)
    with open(folder / "a_dataset.bin", "wb") as f:   # sorted first, over the old 64 MiB budget
        f.truncate(64 * 1024 * 1024 + 1)
    before = fingerprint(folder)
    (folder / "softmax.py").write_text(PARTIAL)
    assert fingerprint(folder) != before


def test_the_fingerprint_is_the_accepted_files_not_the_folder_around_them(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_submission(tmp_path / "a", "alice", GOOD)
    second = make_submission(tmp_path / "b", "alice", GOOD)
    (second / "notes.txt").write_text("not an exam module")
    assert fingerprint(first) == fingerprint(second)
    assert batch.survey([first], "M1")[0].fingerprint != fingerprint(first)   # the track counts


def test_the_kit_fingerprint_covers_every_file_of_the_grading_package(tmp_path, monkeypatch):
    package = tmp_path / "autograder"
    shutil.copytree(batch.KIT_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(batch, "KIT_DIR", package)
    suites = package / "suites"
    before = batch.kit_fingerprint(suites)
    (package / "new_grading_module.py").write_text("WEIGHT = 2\n")   # on no list anywhere
    assert batch.kit_fingerprint(suites) != before
    changed = batch.kit_fingerprint(suites)
    (package / "reports" / "table.py").write_text("")
    assert batch.kit_fingerprint(suites) != changed


def test_the_kit_fingerprint_changes_with_the_torch_version(monkeypatch):
    before = batch.kit_fingerprint()
    version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "9.9.9" if name == "torch" else version(name))
    assert batch.kit_fingerprint() != before


def test_the_kit_fingerprint_covers_suites_kept_outside_the_package(tmp_path):
    suites = make_suites(tmp_path)
    before = batch.kit_fingerprint(suites)
    (suites / "conftest.py").write_text("")
    assert batch.kit_fingerprint(suites) != before


def test_a_path_that_does_not_exist_holds_no_module(tmp_path):
    entry, = batch.survey([tmp_path / "nope.zip"], "M2")
    assert entry.id == "nope" and entry.modules == []
    assert "no such file or folder" in entry.problems[0]


def test_shards_split_a_class_by_submission_id_whatever_the_order():
    ids = [f"student{i:03d}" for i in range(300)]
    shards = [[i for i in ids if batch.in_shard(i, k, 3)] for k in (1, 2, 3)]
    assert sorted(sum(shards, [])) == ids                       # each in exactly one shard
    assert all(70 < len(s) < 130 for s in shards)
    shuffled = sorted(ids, key=lambda i: i[::-1])
    assert [[i for i in shuffled if batch.in_shard(i, k, 3)] for k in (1, 2, 3)] == [
        sorted(s, key=lambda i: i[::-1]) for s in shards]
