"""Shared fixtures of the kit's own tests."""
import textwrap
from pathlib import Path

import pytest
from helpers import EXAMPLES, dlexam

from autograder.isolation.sandbox import Limits, WarmParent

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def graded_examples(tmp_path_factory):
    """`dlexam grade` of the three bundled examples, with every output: (run, folder)."""
    out = tmp_path_factory.mktemp("examples")
    run = dlexam("grade", *EXAMPLES, "--json", out / "all.json", "--csv", out / "grades.csv",
                 "--feedback", out / "feedback", "--results", out / "results")
    return run, out


@pytest.fixture(scope="session")
def warm_parent():
    with WarmParent(Limits(call_seconds=5), flavour="numpy") as parent:
        yield parent


@pytest.fixture
def student_dir(tmp_path):
    """write(name, source) puts a dedented module into a fresh submission folder."""
    folder = tmp_path / "submission"
    folder.mkdir()

    def write(name: str, source: str) -> Path:
        (folder / name).write_text(textwrap.dedent(source))
        return folder

    write.folder = folder
    return write
