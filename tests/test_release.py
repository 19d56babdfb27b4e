"""`dlexam release`: the student bundle holds what students need, the grader's own files the
public checks run on (copied unchanged), and nothing else of the grader's: no solution line, no
hidden test, no hidden input. How the bundle runs, alone in a fresh virtual environment, is
tests/test_public_checks.py's."""
import ast
import json
import keyword
import re
import textwrap
from pathlib import Path

import pytest

from autograder import rubric as rubric_module, skeleton
from autograder.cli import main
from autograder.plugin import SUITES_DIR
from autograder.release import bundle

# Lines of solution regions that a public test also writes for its own torch reference, each
# checked by hand: it gives nothing away. A new one makes the scan fail, for a person to look.
PUBLIC_TEST_IDIOMS = {
    "stats = encoder(x)",          # vae_forward's docstring says how the encoder output splits
    "return decoder(z), mu, logvar, z",   # vae_forward's docstring: what it returns
}
# Lines of solution regions that a shipped file of the kit (tests/support/autograder/) also has,
# each checked by hand: control flow over an argument, and the mistaken formulas' own steps.
KIT_FILE_IDIOMS = {
    "if not train:", "if b is not None:", "with torch.enable_grad():",
    "best = epoch",                # mistakes/training.py: the early-stopping walk with a mistake
    "return norms[::-1]",          # mistakes/training.py: the norms listed output side first
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
    kit = {f"tests/support/autograder/{p.relative_to(bundle.KIT).as_posix()}": p
           for pattern in bundle.KIT_FILES for p in bundle.KIT.glob(pattern)}
    expected = {f"{m}.py" for m in rubric.modules} | set(public) | set(bundle.FROM_TEMPLATES) | {
        "README.md", "points.json", "pytest.ini"} | set(kit)
    texts = bundle_texts(released)
    assert set(texts) == expected
    for m in rubric.modules:
        assert texts[f"{m}.py"] == skeleton.expected_skeletons(rubric)[f"{m}.py"]
    for path, source in kit.items():
        assert texts[path] == source.read_text(encoding="utf-8"), f"{path} is not the kit's {source}"
    assert {"tests/support/autograder/checks.py", "tests/support/autograder/mistakes/mlp.py",
            "tests/support/autograder/isolation/torch_stub/torch/__init__.py"} <= set(kit)
    assert json.loads(texts["points.json"]) == bundle.points_data(rubric)
    readme = texts["README.md"]
    for step in ("## 1. Install", "## 2. Fill in", "## 3. Check", "## 4. Submit"):
        assert step in readme
    assert "$" not in readme and "| `vae.py` | 5 |" in readme


def says_something(line: str) -> bool:
    """Whether a line names anything: "else:" or "])" alone gives no solution away."""
    return any(not keyword.iskeyword(word) for word in re.findall(r"[A-Za-z_]\w*", line))


def public_test_idiom(path: str, line: str) -> bool:
    """A line a public test or a shipped file of the kit may share with a solution: a loop
    header, or a listed idiom."""
    return path.startswith("tests/support/autograder/") and line in KIT_FILE_IDIOMS or \
        path.startswith("tests/") and (
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


def test_the_bundle_holds_no_hidden_input(released):
    """The public checks draw their inputs from seeds of their own (every case_rng key starts
    with "public"), and no table of cases of a hidden suite (a module-level constant holding
    numbers and no code) is in the bundle."""
    texts = bundle_texts(released)
    for path, text in texts.items():
        if path.startswith("tests/test_") or path == "tests/drivers.py":
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("case_rng"):
                    first = node.args[0] if node.args else None
                    assert isinstance(first, ast.Constant) and first.value == "public", \
                        f"{path}: {ast.unparse(node)} does not draw from a public seed"
    for suite in sorted(SUITES_DIR.glob("*.py")):
        source = suite.read_text(encoding="utf-8")
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, (ast.List, ast.Tuple, ast.Dict)) \
                    and any(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets):
                table = ast.get_source_segment(source, node.value)
                numbers = [n for n in ast.walk(node.value) if isinstance(n, ast.Constant)
                           and type(n.value) in (int, float)]
                code = [n for n in ast.walk(node.value) if isinstance(n, (ast.Lambda, ast.Call))]
                if len(table) < 40 or not numbers or code:   # (1, 3, 5), names, formulas
                    continue
                for path, text in texts.items():
                    assert table not in text, f"a table of cases of {suite.name} is in {path}"


def test_release_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["release", str(tmp_path)]) == 2
    assert "is not an empty folder" in " ".join(capsys.readouterr().out.split())
