"""Small suites and submissions for the kit's tests of the grading pipeline, and the CLI."""
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "submissions").iterdir())


def dlexam(*args, cwd=ROOT):
    """Run the command line in a fresh interpreter; stdout is a pipe, as in a script or a log."""
    return subprocess.run([sys.executable, "-m", "autograder.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=900)

SUITE = '''
import numpy as np
import pytest
from autograder.checks import assert_close

@pytest.mark.question("3.1", weight=3)
@pytest.mark.parametrize("case", range(3))
def test_double(submission, case):
    assert_close(submission.call("softmax", "double", np.full(2, float(case))),
                 np.full(2, 2.0 * case), check="double(x)", inputs={"x": np.zeros(2)})

@pytest.mark.question("3.1", weight=1)
def test_hangs(submission):
    submission.call("softmax", "slow")

@pytest.mark.question("1.2")
def test_update(submission):
    assert_close(submission.call("mlp", "one"), 1, check="one()", inputs={})
'''


def make_suites(tmp_path, source=SUITE):
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "pytest.ini").write_text("[pytest]\naddopts = --import-mode=importlib\n")
    # pytest keeps imported test modules by name: a fresh name per test keeps suites apart.
    (suites / f"test_{tmp_path.name}.py").write_text(textwrap.dedent(source))
    return suites


def make_submission(tmp_path, name, softmax, mlp="def one():\n    return 1\n"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "softmax.py").write_text(textwrap.dedent(softmax))
    if mlp is not None:
        (folder / "mlp.py").write_text(mlp)
    return folder


GOOD = "def double(x):\n    return 2 * x\n\ndef slow():\n    return None\n"


def isolated_venv(folder: Path, *packages) -> Path:
    """A fresh virtual environment that sees only the standard library and the site-packages
    folders of `packages` (imported modules), through a .pth file: no network is needed, and
    an editable dlexam install stays out of reach (its own .pth file is not processed there).
    Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    folders = sorted({str(Path(p.__file__).resolve().parents[1]) for p in packages})
    (Path(site) / "deps-from-the-test-run.pth").write_text("\n".join(folders) + "\n")
    return python
