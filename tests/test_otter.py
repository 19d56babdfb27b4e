"""`dlexam autograder`: the zip otter and Gradescope run grades like `dlexam grade`, question by
question, with the kit it carries (an sdist installed in a fresh virtual environment)."""
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

otter = pytest.importorskip("otter", reason="otter-grader is not installed (pip install -e '.[dev]')")

from helpers import isolated_venv  # noqa: E402

from autograder import rubric as rubric_module  # noqa: E402
from autograder.cli import main  # noqa: E402
from autograder.grading import grade  # noqa: E402
from autograder.plugin import SUITES_DIR  # noqa: E402
from autograder.release import otter_plugin  # noqa: E402
from autograder.release.otter import SDIST_NAME  # noqa: E402
from autograder.scoring import TestResult as Outcome, score_submission  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"
HIJACK = """from pathlib import Path
Path({marker!r}).write_text("a submitted otter.py ran in the grading kernel")
"""


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    path = tmp_path_factory.mktemp("otter") / "autograder.zip"
    assert main(["autograder", str(path)]) == 0
    return path


def test_the_zip_is_what_otter_and_gradescope_take(autograder_zip):
    rubric = rubric_module.load()
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        config = json.loads(archive.read("otter_config.json"))
        environment = archive.read("environment.yml").decode()
        tests = {n: archive.read(n).decode() for n in names if n.startswith("tests/")}
        archive.extract(SDIST_NAME, autograder_zip.parent)
    assert {"run_autograder", "run_otter.py", "setup.sh", "environment.yml", SDIST_NAME,
            f"files/{otter_plugin.ENTRY_NOTEBOOK}"} <= names
    assert [n for n in names if n.startswith("files/")] == [f"files/{otter_plugin.ENTRY_NOTEBOOK}"]
    assert "zips" not in config and config["show_hidden"] is True
    assert config["plugins"] == [{"autograder.release.otter_plugin.DlexamGrading": {"track": "M2"}}]
    assert "python=3.11" in environment and "+cpu" in environment
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in environment
    assert f"/autograder/source/{SDIST_NAME}" in environment
    assert sorted(tests) == sorted(f"tests/q{q.id.replace('.', '_')}.py" for q in rubric.questions)
    for text in tests.values():
        assert "OK_FORMAT = False" in text and "test_case(" in text
    with tarfile.open(autograder_zip.parent / SDIST_NAME) as sdist:
        members = {Path(*Path(m).parts[1:]).as_posix(): m for m in sdist.getnames()}
        for suite in [*SUITES_DIR.glob("test_*.py"), SUITES_DIR / "pytest.ini"]:
            assert f"autograder/suites/{suite.name}" in members
        rubric_text = sdist.extractfile(members["autograder/rubric.toml"]).read().decode()
    assert rubric_text == (ROOT / "autograder" / "rubric.toml").read_text()


def _score(tests_by_question, uses_torch=None):
    rubric = rubric_module.load()
    results = [Outcome(qid, f"test_{qid}_{i}", weight, passed, "" if passed else "wrong")
               for qid, tests in tests_by_question.items()
               for i, (weight, passed) in enumerate(tests)]
    return score_submission(rubric, "M2", "s", results, set(tests_by_question), uses_torch or {},
                            [], [])


def test_otter_cases_add_up_to_dlexam_question_scores():
    score = _score({"1.1": [(1 / 3, True), (1 / 3, True), (1 / 3, False)],
                    "1.3": [(0.5, True), (0.25, False), (0.25, True)],
                    "5.1": [(1.0, True)]})
    cases = otter_plugin.otter_cases(score)
    assert set(cases) == {q.id for q in score.questions}
    for q in score.questions:
        earned = sum(c["points"] for c in cases[q.id] if c["passed"])
        assert earned == pytest.approx(q.points, abs=1e-12), q.id
        assert sum(c["points"] for c in cases[q.id]) == pytest.approx(q.max, abs=1e-12)
    assert score.questions[0].points == 1.3333 and len(cases["1.1"]) == 3
    assert cases["1.2"] == [{"name": "Q1.2", "points": 1.0, "passed": False, "message": "not graded yet"}]
    assert [c["message"] for c in cases["1.3"] if not c["passed"]] == ["wrong"]


def test_a_question_zeroed_by_the_numpy_only_rule_fails_every_case():
    rubric = rubric_module.load()
    used = Outcome("1.1", "test_1.1_1", 1.0, False, "TorchNotAllowed: torch is not available",
                   error_type="TorchNotAllowed")
    score = score_submission(rubric, "M2", "s", [Outcome("1.1", "test_1.1_0", 1.0, True, ""), used],
                             {"1.1"}, {"mlp": "import torch"}, [], [])
    cases = otter_plugin.otter_cases(score)["1.1"]
    assert score.questions[0].status == "numpy-only rule"
    assert not any(c["passed"] for c in cases)
    assert sum(c["points"] for c in cases) == pytest.approx(2.0)
    assert cases[0]["message"].startswith("scored 0: torch was used in a numpy-only part")


def _submissions(folder: Path) -> dict[str, Path]:
    """The three examples as zips (otter takes files); the skeleton one also carries an otter.py
    that would run in otter's grading kernel if the submission folder stayed on its path."""
    correct = folder / "correct.zip"
    with zipfile.ZipFile(correct, "w") as archive:
        for module in sorted((EXAMPLES / "correct").glob("*.py")):
            archive.write(module, f"correct/{module.name}")
    hostile = folder / "skeleton.zip"
    with zipfile.ZipFile(EXAMPLES / "skeleton.zip") as source, zipfile.ZipFile(hostile, "w") as archive:
        for info in source.infolist():
            archive.writestr(info, source.read(info))
        archive.writestr("otter.py", HIJACK.format(marker=str(folder / "HIJACKED")))
    return {"correct": correct, "partial": EXAMPLES / "partial.zip", "skeleton": hostile}


def test_otter_run_scores_every_question_like_dlexam_grade(autograder_zip, tmp_path):
    import numpy
    import torch

    python = isolated_venv(tmp_path / "venv", numpy, torch, pytest, otter)
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extract(SDIST_NAME, tmp_path)
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                              "--no-deps", "--no-build-isolation", "--no-index", str(tmp_path / SDIST_NAME)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    submissions = _submissions(tmp_path)
    runs = {}
    for name, path in submissions.items():
        (tmp_path / name).mkdir()
        runs[name] = subprocess.Popen(
            [str(python), "-m", "otter", "run", "-a", str(autograder_zip), "-o", str(tmp_path / name),
             "--no-logo", str(path)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
    expected = dict(zip(submissions, grade(list(submissions.values()))))
    for name, run in runs.items():
        output = run.communicate(timeout=600)[0]
        assert run.returncode == 0, output[-3000:]
        results = json.loads((tmp_path / name / "results.json").read_text())
        rows = {row["name"].split()[0].removeprefix("Q"): row for row in results["tests"]}
        dlexam = expected[name]
        assert list(rows) == [q.id for q in dlexam.questions], name
        for q in dlexam.questions:
            row = rows[q.id]
            assert (round(row["score"], 4), row["max_score"]) == (q.points, q.max), (name, q.id)
            assert row["visibility"] == "after_published"
        assert f"Total {round(dlexam.total, 2):g}/35" in results["output"]
    assert expected["correct"].total == 35 and expected["skeleton"].total == 0
    assert 0 < expected["partial"].total < 35
    assert not (tmp_path / "HIJACKED").exists()
