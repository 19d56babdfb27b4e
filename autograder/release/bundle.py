"""`dlexam release OUT`: the student bundle, which works without dlexam installed.

OUT/ holds the skeleton modules, the public tests (assignments/tests/ and pytest.ini), a README
for students, requirements.txt, points.json (the rubric's questions and points, generated) and a
conftest.py that prints an estimate on the exam's point scale after `pytest`. The skeletons are
made from solutions/ by nbgrader's ClearSolutions (skeleton.py; the `staff` extra). Nothing else is written: no solution line, no hidden test, no
reference value.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from string import Template

from autograder import skeleton
from autograder.reports.table import pts
from autograder.rubric import Rubric

TEMPLATES = Path(__file__).with_name("templates")
PUBLIC_TESTS = skeleton.ASSIGNMENTS_DIR / "tests"


@dataclass
class Bundle:
    """What `write_bundle` wrote: file paths relative to `folder`."""
    folder: Path
    files: list[str]


def points_data(rubric: Rubric) -> dict:
    """The contents of points.json: the rubric's tracks and questions, with their points."""
    return {
        "generated_by": "dlexam release, from the course's rubric.toml: points are changed there",
        "tracks": {name: {"label": t.label, "parts": list(t.parts)}
                   for name, t in rubric.tracks.items()},
        "questions": [{"id": q.id, "part": q.part, "points": q.points, "title": q.title}
                      for q in rubric.questions],
    }


def _numpy_rule(rubric: Rubric) -> str:
    numpy_parts = [str(p.id) for p in rubric.parts if p.numpy_only]
    torch_parts = [str(p.id) for p in rubric.parts if not p.numpy_only]
    if not numpy_parts:
        return ""
    cost = ("its questions score 0" if rubric.torch_in_numpy_part == "zero"
            else "the graders are told")
    return (f"Parts {', '.join(numpy_parts)} use numpy only (when a module of those parts uses "
            f"torch, {cost})" + (f"; part {', '.join(torch_parts)} uses torch." if torch_parts else "."))


def student_readme(rubric: Rubric) -> str:
    """The bundle's README.md: install, fill in, check, submit; modules and points from the rubric."""
    tracks = "\n".join(f"- track {name}, {t.label}: {pts(rubric.max_points(name))} points"
                       for name, t in rubric.tracks.items())
    modules = "\n".join(
        f"| `{m}.py` | {rubric.module_part(m).id} | "
        + ", ".join(f"Q{q.id} ({pts(q.points)})" for q in rubric.questions if m in q.modules) + " |"
        for m in rubric.modules)
    return Template(_template("README.md")).substitute(
        tracks=tracks, modules=modules, numpy_rule=_numpy_rule(rubric),
        module_files=" ".join(f"{m}.py" for m in rubric.modules))


def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def bundle_files(rubric: Rubric) -> dict[str, str]:
    """{relative path: text} of the bundle."""
    files = {
        **skeleton.expected_skeletons(rubric),
        "README.md": student_readme(rubric),
        "requirements.txt": _template("requirements.txt"),
        "conftest.py": _template("conftest.py"),
        "points.json": json.dumps(points_data(rubric), indent=1) + "\n",
        "pytest.ini": (skeleton.ASSIGNMENTS_DIR / "pytest.ini").read_text(encoding="utf-8"),
    }
    files.update({f"tests/{p.name}": p.read_text(encoding="utf-8")
                  for p in sorted(PUBLIC_TESTS.glob("*.py"))})
    return files


def write_bundle(out: Path, rubric: Rubric) -> Bundle:
    """Write the student bundle into `out`, which must be missing or empty."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder")
    files = bundle_files(rubric)
    for name, text in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text, encoding="utf-8")
    return Bundle(out, sorted(files))
