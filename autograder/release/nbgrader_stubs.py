"""Student skeletons made by nbgrader's own ClearSolutions preprocessor (the `staff` extra).

Each solution region of a module becomes one nbgrader solution cell, cleared by a ClearSolutions
whose `code_stub` names the region's question (`skeleton.stub`), so the stub still says which
question to answer; the cleared cells are put back between the untouched lines. skeleton.py
makes the same text without nbgrader, and a kit test holds the two equal.
"""
from __future__ import annotations

import importlib.util

from autograder import skeleton
from autograder.rubric import Rubric

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def available() -> bool:
    """Whether nbgrader is installed (`pip install "dlexam[staff]"`)."""
    return importlib.util.find_spec("nbgrader") is not None


def clear_region(region: str, stub: str) -> str:
    """The region's text (BEGIN to END lines) after nbgrader's ClearSolutions, stubbed with `stub`."""
    import nbformat
    from nbgrader.preprocessors import ClearSolutions

    cell = nbformat.v4.new_code_cell(region, metadata={"nbgrader": {
        "solution": True, "grade": False, "locked": False, "grade_id": "region",
        "schema_version": 3}})
    notebook = nbformat.v4.new_notebook(cells=[cell], metadata={"kernelspec": KERNELSPEC})
    cleared, _ = ClearSolutions(code_stub={"python": stub}).preprocess(notebook, {})
    return cleared.cells[0].source


def make_skeleton(source: str, module: str, rubric: Rubric) -> str:
    """The student skeleton of one solution module, each region cleared by nbgrader."""
    lines = source.splitlines(keepends=True)
    out, position = [], 0
    for begin, end, qualname, qid in skeleton.regions(source, module, rubric):
        out.extend(lines[position:begin - 1])
        region = "".join(lines[begin - 1:end]).removesuffix("\n")
        out.append(clear_region(region, skeleton.stub(qid, qualname)) + "\n")
        position = end
    out.extend(lines[position:])
    return "".join(out)


def expected_skeletons(rubric: Rubric, solutions=skeleton.SOLUTIONS_DIR) -> dict[str, str]:
    """{"mlp.py": skeleton text, ...} for every rubric module, made with nbgrader."""
    return {f"{m}.py": make_skeleton((solutions / f"{m}.py").read_text(encoding="utf-8"), m, rubric)
            for m in rubric.modules}
