"""`dlexam release`: the student bundle holds what students need and nothing of the grader's, and
works alone, without dlexam, in a fresh virtual environment."""
import ast
import json
import keyword
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autograder import rubric as rubric_module, skeleton
from autograder.cli import main
from autograder.plugin import SUITES_DIR
from autograder.release import bundle
from helpers import isolated_venv

ROOT = Path(__file__).resolve().parents[1]
PARTIAL = ROOT / "examples" / "submissions" / "partial.zip"

# Lines of solution regions that a public test also writes for its own torch reference, each
# checked by hand: it gives nothing away. A new one makes the scan fail, for a person to look.
PUBLIC_TEST_IDIOMS = {
    "stats = encoder(x)",          # vae_forward's docstring says how the encoder output splits
}


@pytest.fixture(scope="module")
def rubric():
    return rubric_module.load()


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "bundle"
    assert main(["release", str(out)]) == 0
    return out


def bundle_texts(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_bundle_holds_exactly_what_students_need(released, rubric):
    public = sorted(f"tests/{p.name}" for p in (skeleton.ASSIGNMENTS_DIR / "tests").glob("*.py"))
    expected = {f"{m}.py" for m in rubric.modules} | set(public) | {
        "README.md", "conftest.py", "points.json", "pytest.ini", "requirements.txt"}
    texts = bundle_texts(released)
    assert set(texts) == expected
    for m in rubric.modules:
        assert texts[f"{m}.py"] == skeleton.expected_skeletons(rubric)[f"{m}.py"]
    assert json.loads(texts["points.json"]) == bundle.points_data(rubric)
    readme = texts["README.md"]
    for step in ("## 1. Install", "## 2. Fill in", "## 3. Check", "## 4. Submit"):
        assert step in readme
    assert "$" not in readme and "| `vae.py` | 5 |" in readme


def says_something(line: str) -> bool:
    """Whether a line names anything: "else:" or "])" alone gives no solution away."""
    return any(not keyword.iskeyword(word) for word in re.findall(r"[A-Za-z_]\w*", line))


def public_test_idiom(path: str, line: str) -> bool:
    """A line a public test may share with a solution: a loop header, or a listed idiom."""
    return path.startswith("tests/") and (
        line in PUBLIC_TEST_IDIOMS or re.fullmatch(r"for .+ in .+:", line) is not None)


def test_the_bundle_holds_no_solution_line(released, rubric):
    """Every line of every solution region, searched in every file of the bundle. Exempt: lines
    that a solution also has outside its regions (students get those by design), lines that
    name nothing ("else:"), and, in public tests, loop headers and the idioms listed above."""
    found = {}
    for path, text in bundle_texts(released).items():
        for line in text.splitlines():
            found.setdefault(line.strip(), set()).add(path)
    inside, outside = {}, set()
    for module in rubric.modules:
        source = (skeleton.SOLUTIONS_DIR / f"{module}.py").read_text(encoding="utf-8")
        lines = source.splitlines()
        regions = {n for begin, end, _, _ in skeleton.regions(source, module, rubric)
                   for n in range(begin, end - 1)}
        for number, line in enumerate(lines):
            if number in regions:
                inside.setdefault(line.strip(), module)
            else:
                outside.add(line.strip())
    for line, module in inside.items():
        if line in outside or not says_something(line):
            continue
        leaks = {path for path in found.get(line, ()) if not public_test_idiom(path, line)}
        assert not leaks, f"a solution line of {module}.py is in the bundle ({sorted(leaks)}): {line}"


def test_the_bundle_holds_no_hidden_test(released):
    """No hidden test's source, and a hidden test's name only where a public test has it too."""
    texts = bundle_texts(released)
    for suite in sorted(SUITES_DIR.glob("test_*.py")):
        source = suite.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                body = textwrap.dedent(ast.get_source_segment(source, node))
                for path, text in texts.items():
                    assert body not in text, f"hidden test {node.name} copied into {path}"
                    for line in text.splitlines():
                        if re.search(rf"\b{node.name}\b", line):
                            assert path.startswith("tests/") and line.startswith(f"def {node.name}("), \
                                f"hidden test name {node.name} in {path}: {line}"


def test_release_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["release", str(tmp_path)]) == 2
    assert "is not an empty folder" in " ".join(capsys.readouterr().out.split())


def _question_markers(tests_dir: Path) -> dict[str, str]:
    """{"test_mlp.test_linear": "1.1", ...} from the public tests' @pytest.mark.question."""
    markers = {}
    for path in tests_dir.glob("test_*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            for decorator in getattr(node, "decorator_list", []):
                if (isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.mark.question"):
                    markers[f"{path.stem}.{node.name}"] = decorator.args[0].value
    return markers


def test_the_bundle_runs_alone_in_a_fresh_venv(released, tmp_path, rubric):
    """Without dlexam: its requirements are met by numpy, torch and pytest alone, and every
    public check of the untouched skeletons fails with NotImplementedError naming a question:
    its own, or an earlier one of its module that it builds on (a back-propagation check
    builds a graph first, so it stops at Var.__init__, Q3.2)."""
    import numpy
    import torch

    python = isolated_venv(tmp_path / "venv", numpy, torch, pytest)
    assert subprocess.run([str(python), "-c", "import autograder"], cwd=tmp_path,
                          capture_output=True).returncode == 1
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index",
                          "-r", "requirements.txt"], cwd=released, capture_output=True, text=True)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    run = subprocess.run([str(python), "-m", "pytest", "-p", "no:cacheprovider",
                          f"--junitxml={tmp_path / 'junit.xml'}"],
                         cwd=released, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    markers = _question_markers(released / "tests")
    cases = list(ET.parse(tmp_path / "junit.xml").iter("testcase"))
    assert len(cases) >= len(markers) > 0
    for case in cases:
        failure = case.find("failure")
        assert failure is not None, f"{case.get('name')} passed on a skeleton"
        module = case.get("classname").split(".")[-1].removeprefix("test_")
        own = markers[f"test_{module}.{case.get('name').split('[')[0]}"]
        named = re.search(r"NotImplementedError: Q(\d+\.\d+): implement ([\w.]+)", failure.get("message"))
        assert named, (case.get("name"), failure.get("message"))
        question = rubric.question_of(f"{module}.{named.group(2)}")
        assert question is not None and question.id == named.group(1), failure.get("message")
        assert rubric.ids.index(question.id) <= rubric.ids.index(own), (case.get("name"), own, question.id)
    assert "estimate on the exam's point scale" in run.stdout
    assert re.search(r"estimate 0/35 +\(track M2", run.stdout)


def test_the_bundle_estimate_equals_dlexam_check(released, tmp_path):
    """The conftest's estimate after `pytest` and `dlexam check` agree on the partial example."""
    import zipfile

    folder = tmp_path / "student"
    folder.mkdir()
    for path, text in bundle_texts(released).items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text, encoding="utf-8")
    with zipfile.ZipFile(PARTIAL) as archive:
        for info in archive.infolist():
            if info.filename.endswith(".py"):
                (folder / Path(info.filename).name).write_bytes(archive.read(info))
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
                         cwd=folder, capture_output=True, text=True, timeout=600)
    estimate = re.search(r"estimate (\S+)/35 +\(track M2", run.stdout)
    assert estimate, run.stdout[-3000:]
    check = subprocess.run([sys.executable, "-m", "autograder.cli", "check", "--dir", str(folder)],
                           capture_output=True, text=True, timeout=600)
    total = re.search(r"total (\S+)/35", check.stdout)
    assert total, check.stdout[-3000:]
    assert "estimate on the exam's point scale" not in check.stdout   # dlexam check prints its own
    assert float(estimate.group(1)) == float(total.group(1)) > 0
