"""Student skeletons from reference solutions: each solution region becomes a stub.

A region is the lines from `### BEGIN SOLUTION` to `### END SOLUTION`, nbgrader's delimiters.
nbgrader's own ClearSolutions preprocessor (the `staff` extra) clears each region: the whole
region, delimiters included, becomes one stub line at the indentation of the BEGIN line. This
module finds the regions and gives each a stub naming the exam question of the enclosing
function, taken from the rubric:

    raise NotImplementedError("Q1.3: implement output_layer_grads")
"""
from __future__ import annotations

import ast
import importlib.util
import zipfile
from pathlib import Path

from autograder.rubric import Rubric

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS_DIR = ROOT / "solutions"
ASSIGNMENTS_DIR = ROOT / "assignments"
EXAMPLE_ZIP = ROOT / "examples" / "submissions" / "skeleton.zip"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


class NbgraderMissing(RuntimeError):
    """Skeletons are made by nbgrader, which only the `staff` extra installs."""


def require_nbgrader() -> None:
    if importlib.util.find_spec("nbgrader") is None:
        raise NbgraderMissing('nbgrader makes the skeletons: pip install -e ".[staff]" (or ".[dev]")')


def stub(question_id: str, qualname: str) -> str:
    return f'raise NotImplementedError("Q{question_id}: implement {qualname}")'


def _functions(source: str) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function and method, innermost last."""
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((child.lineno, child.end_lineno, prefix + child.name))
                visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")

    visit(ast.parse(source), "")
    return found


def regions(source: str, module: str, rubric: Rubric) -> list[tuple[int, int, str, str]]:
    """(begin line, end line, qualname, question id) of every region, 1-based, in order."""
    lines = source.splitlines()
    functions = _functions(source)
    found, begin = [], None
    for number, line in enumerate(lines, start=1):
        if BEGIN in line:
            if begin is not None:
                raise ValueError(f"{module}.py:{number}: nested {BEGIN}")
            begin = number
        elif END in line:
            if begin is None:
                raise ValueError(f"{module}.py:{number}: {END} without {BEGIN}")
            enclosing = [f for f in functions if f[0] < begin <= f[1]]
            if not enclosing:
                raise ValueError(f"{module}.py:{begin}: solution region outside a function")
            qualname = max(enclosing, key=lambda f: f[0])[2]
            question = rubric.question_of(f"{module}.{qualname}")
            if question is None:
                raise ValueError(f"{module}.py:{begin}: region in {qualname}, which no rubric "
                                 f"question lists under `functions`")
            found.append((begin, number, qualname, question.id))
            begin = None
    if begin is not None:
        raise ValueError(f"{module}.py:{begin}: {BEGIN} without {END}")
    return found


def clear_region(region: str, code_stub: str) -> str:
    """The region's text (BEGIN to END lines) after nbgrader's ClearSolutions with `code_stub`:
    the region is one solution cell of a notebook of its own."""
    require_nbgrader()
    import nbformat
    from nbgrader.preprocessors import ClearSolutions

    cell = nbformat.v4.new_code_cell(region, metadata={"nbgrader": {
        "solution": True, "grade": False, "locked": False, "grade_id": "region",
        "schema_version": 3}})
    notebook = nbformat.v4.new_notebook(cells=[cell], metadata={"kernelspec": KERNELSPEC})
    cleared, _ = ClearSolutions(code_stub={"python": code_stub}).preprocess(notebook, {})
    return cleared.cells[0].source


def make_skeleton(source: str, module: str, rubric: Rubric) -> str:
    """The student skeleton of one solution module: every region cleared by nbgrader, the
    lines between regions untouched."""
    lines = source.splitlines(keepends=True)
    out, position = [], 0
    for begin, end, qualname, qid in regions(source, module, rubric):
        out.extend(lines[position:begin - 1])
        region = "".join(lines[begin - 1:end]).removesuffix("\n")
        out.append(clear_region(region, stub(qid, qualname)) + "\n")
        position = end
    out.extend(lines[position:])
    return "".join(out)


def expected_skeletons(rubric: Rubric, solutions: Path = SOLUTIONS_DIR) -> dict[str, str]:
    """{"mlp.py": skeleton text, ...} for every rubric module."""
    return {f"{m}.py": make_skeleton((solutions / f"{m}.py").read_text(encoding="utf-8"), m, rubric)
            for m in rubric.modules}


def zip_contents(path: Path) -> dict[str, str]:
    """{"mlp.py": text, ...} of a submission zip (the untouched-skeleton example)."""
    with zipfile.ZipFile(path) as archive:
        return {Path(n).name: archive.read(n).decode("utf-8") for n in archive.namelist()}


def write_example_zip(skeletons: dict[str, str], path: Path = EXAMPLE_ZIP) -> None:
    """The untouched skeleton as a submission zip, byte-identical for the same skeletons."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in skeletons.items():
            info = zipfile.ZipInfo(f"skeleton/{name}", date_time=(2019, 11, 20, 9, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, text)


def write_skeletons(rubric: Rubric, solutions: Path = SOLUTIONS_DIR,
                    assignments: Path = ASSIGNMENTS_DIR) -> list[str]:
    """Rewrite assignments/<module>.py and the skeleton example zip from solutions/.

    Returns the names of the files that changed.
    """
    skeletons = expected_skeletons(rubric, solutions)
    changed = []
    for name, text in skeletons.items():
        target = assignments / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            changed.append(name)
    if not EXAMPLE_ZIP.exists() or zip_contents(EXAMPLE_ZIP) != skeletons:
        write_example_zip(skeletons)
        changed.append(EXAMPLE_ZIP.name)
    return changed
