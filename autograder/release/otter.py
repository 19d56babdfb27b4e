"""`dlexam autograder OUT.zip`: one zip for `otter run`, `otter grade` and Gradescope.

The zip is made by otter's own generator (otter.generate, from the `staff` extra), so it has the
layout otter-grader 7 expects (run_autograder, run_otter.py, setup.sh, environment.yml,
otter_config.json, tests/, files/), and holds:
- requirements.dlexam-<version>.tar.gz: the kit itself, an sdist of this repository (grading
  code, isolation, hidden suites, rubric), which environment.yml installs. Its name starts with
  "requirements." because `otter grade`'s Dockerfile copies only setup.sh, environment.yml and
  requirements.* into the image before it runs setup.sh (Gradescope unpacks the whole zip).
- environment.yml: Python 3.11, the CPU build of the torch version installed here (from
  PyTorch's CPU index), otter-grader and the kit.
- otter_config.json: the dlexam plugin (otter_plugin.py), which grades the submission before
  otter executes anything; per-question rows hidden until grades are published.
- files/dlexam-entry.ipynb: the one notebook otter executes (it takes one file per submission,
  and a submission here is several modules); the grading is the plugin's.
- tests/qN_M.py: one exception-based test file per question of the track, one test case per
  hidden test (templates/otter_test.py).
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from string import Template

from autograder import __version__
from autograder.release import otter_plugin
from autograder.rubric import Rubric

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(__file__).with_name("templates")
AUTOGRADER_DIR = "/autograder"       # where otter's containers and Gradescope unpack the zip
PYTHON_VERSION = "3.11"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
SDIST_NAME = f"requirements.dlexam-{__version__}.tar.gz"
PLUGIN = f"{otter_plugin.__name__}.{otter_plugin.DlexamGrading.__name__}"


def otter_config(track: str) -> dict:
    """otter_config.json: the dlexam plugin for `track`; rows hidden until grades are published,
    and no "Public Tests" row (every case is hidden)."""
    return {"lang": "python", "plugins": [{PLUGIN: {"track": track}}],
            "show_hidden": True, "force_public_test_summary": False}


def environment(torch_version: str) -> dict:
    """environment.yml, merged by otter with its own (which adds otter-grader)."""
    return {"name": "otter-env", "channels": ["conda-forge"],
            "dependencies": [f"python={PYTHON_VERSION}", "pip", {"pip": [
                f"--extra-index-url {TORCH_CPU_INDEX}",
                f"torch=={torch_version.split('+')[0]}+cpu",
                f"{AUTOGRADER_DIR}/source/{SDIST_NAME}",
            ]}]}


def test_file(rubric: Rubric, question_id: str) -> str:
    """The otter test file of one question."""
    q = rubric.question(question_id)
    cases_path = f"../{otter_plugin.WORK_DIR}/{otter_plugin.CASES_FILE}"
    return Template((TEMPLATES / "otter_test.py").read_text(encoding="utf-8")).substitute(
        question=q.id, title=q.title, points=f"{q.points:g}", name=repr(f"Q{q.id} {q.title}"),
        cases_path=cases_path)


def entry_notebook() -> str:
    """files/dlexam-entry.ipynb: one Markdown cell saying where the grading happens."""
    import nbformat

    text = ("# dlexam\nThe dlexam otter plugin graded this submission before otter executed this "
            "notebook; the test files in tests/ read its results.")
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell(text)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}})
    return nbformat.writes(notebook)


def build_sdist(dest: Path) -> Path:
    """An sdist of this repository's dlexam in `dest`, built from a clean copy of its sources."""
    with tempfile.TemporaryDirectory(prefix="dlexam-sdist-") as tmp:
        source = Path(tmp) / "dlexam"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, source / name)
        shutil.copytree(ROOT / "autograder", source / "autograder",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        script = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
        built = subprocess.run([sys.executable, "-c", script, str(dest)], cwd=source, check=True,
                               capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return Path(dest) / built


def zip_path(out: Path) -> Path:
    """`out` with .zip added when it has no extension; ValueError for another extension (otter
    and Gradescope take the autograder as a .zip)."""
    out = Path(out)
    if not out.suffix:
        return out.with_name(out.name + ".zip")
    if out.suffix.lower() != ".zip":
        raise ValueError(f"the autograder is a zip: name it {out.with_suffix('.zip')}, not {out}")
    return out


def build(out: Path, rubric: Rubric, track: str = "M2") -> Path:
    """Write the autograder zip for `track` to `out` (see zip_path); return its path."""
    from otter.generate import main as generate

    out = zip_path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="dlexam-autograder-") as tmp:
        staging = Path(tmp)
        (staging / "tests").mkdir()
        for q in rubric.questions_in(track):
            (staging / "tests" / f"q{q.id.replace('.', '_')}.py").write_text(
                test_file(rubric, q.id), encoding="utf-8")
        (staging / otter_plugin.ENTRY_NOTEBOOK).write_text(entry_notebook(), encoding="utf-8")
        (staging / "otter_config.json").write_text(json.dumps(otter_config(track), indent=1))
        (staging / "environment.yml").write_text(
            json.dumps(environment(importlib.metadata.version("torch")), indent=1))
        sdist = build_sdist(staging / "dist")
        previous = os.getcwd()
        os.chdir(staging)   # otter.generate takes `files` relative to the working directory
        try:
            generate(tests_dir="tests", output_path=str(out), config="otter_config.json",
                     environment="environment.yml", no_requirements=True,
                     files=[otter_plugin.ENTRY_NOTEBOOK], python_version=PYTHON_VERSION)
        finally:
            os.chdir(previous)
        with zipfile.ZipFile(out, "a") as archive:
            archive.write(sdist, arcname=SDIST_NAME)
    return out
