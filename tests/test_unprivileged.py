"""Non-root mode, run as an unprivileged user from within the suite (tests/unprivileged.py):
the sandbox protects as much as it does as root, and every submission gets the same grade."""
import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.grade_driver import outcomes
from tests.sandbox_probes import PROBES_SOURCE
from tests.unprivileged import REPO, run_as_nobody, shared_folder, usable

pytestmark = pytest.mark.skipif(usable() is not None, reason=str(usable()))

EXAMPLES = REPO / "examples" / "submissions"
FAIRNESS = REPO / "tests" / "heldout" / "fairness"


@pytest.fixture(scope="module")
def workdir():
    folder = shared_folder("dlexam-unprivileged-test-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def run(workdir: Path, script: str, *args) -> dict:
    out = workdir / f"{Path(script).stem}.json"
    result = run_as_nobody([sys.executable, str(REPO / "tests" / script), *map(str, args)],
                           cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text()) if out.exists() else {}


def test_as_an_unprivileged_user_a_child_sees_and_reaches_what_it_does_as_root(workdir):
    folder = workdir / "looker"
    folder.mkdir()
    (folder / "mlp.py").write_text(PROBES_SOURCE)
    folder.chmod(0o755)
    seen = run(workdir, "look_driver.py", folder, workdir / "look_driver.json")
    assert seen["cwd"] == "/submission" and seen["listing"] == ["mlp.py"]
    assert not seen["kit_visible"] and not seen["suites_visible"]
    assert seen["home_shows_only_the_way_to_python"]
    assert all(v is True for v in seen["imports"].values()), seen["imports"]
    assert seen["writes"] == {"/submission": False, "/usr": False, "/tmp": True, "/": False}
    assert seen["pid"] == 2 and seen["processes"] == [1, 2]
    assert seen["network"].startswith("refused") and seen["capabilities"] == 0
    assert seen["uid"] == 0   # root of a user namespace of its own, powerless
    assert seen["torch"].startswith("TorchNotAllowed") and seen["torch_files"] == []


def submissions():
    """The examples and the held-out fairness cases (installed imports, prints, torch in
    docstrings, slow loops: whatever grades as root must grade the same without root)."""
    return [EXAMPLES / "correct", EXAMPLES / "partial.zip", EXAMPLES / "skeleton.zip",
            *sorted(p for p in FAIRNESS.iterdir() if p.is_dir())]


def test_every_submission_gets_the_same_grade_with_and_without_root(workdir):
    copies = workdir / "submissions"
    for path in submissions():
        target = copies / path.name
        (shutil.copytree if path.is_dir() else shutil.copy)(path, target)
    for path in [copies, *copies.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    paths = sorted(copies.iterdir())
    from autograder.grading import Grader
    with Grader("M2") as grader:
        as_root = outcomes(grader.grade(paths))
    unprivileged = run(workdir, "grade_driver.py", workdir / "grade_driver.json", *paths)
    assert unprivileged["outcomes"] == json.loads(json.dumps(as_root))
    assert not any("WITHOUT a sandbox" in w for w in unprivileged["warnings"])
