"""`dlexam release OUT`: the student bundle, which works without dlexam installed.

OUT/ holds the skeleton modules, the public tests (assignments/tests/ and pytest.ini), a README
for students, requirements.txt, points.json (the rubric's questions, points, parts and policy,
generated), a conftest.py, and tests/support/: what the public checks need to check a student's
modules as the grader does: the kit's own files, copied unchanged at release time into
tests/support/autograder/ (KIT_FILES), and the templates that run them (runner.py, the process
that runs a student's numpy-only modules; public_checks.py, the pytest plugin). The skeletons
are made from solutions/ by nbgrader's ClearSolutions (skeleton.py; the `staff` extra). Nothing
else is written: no solution line, no hidden test, no reference value.
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
KIT = Path(__file__).resolve().parents[1]
SUPPORT = "tests/support"
#: The kit's own files the public checks run on, shipped unchanged under tests/support/autograder/
#: (the kit's own layout, so that they import each other as in the kit): the comparison API,
#: the mistakes catalogue, the torch stand-in, the generic, training and generative probes and
#: the grader's side of the generative ones (no test, no input), the wire format, torch_imports,
#: and how a failure is worded (failures.py, text.py).
KIT_FILES = ("__init__.py", "checks.py", "failures.py", "text.py", "torch_imports.py",
             "isolation/__init__.py", "isolation/codec.py", "isolation/torch_stub/torch/__init__.py", "probes/__init__.py",
             "probes/base.py", "probes/training.py", "probes/generative.py",
             "suites/generative_checks.py", "mistakes/*.py")


@dataclass
class Bundle:
    """What `write_bundle` wrote: file paths relative to `folder`."""
    folder: Path
    files: list[str]


#: Templates of the bundle: bundle path -> template file.
FROM_TEMPLATES = {
    "conftest.py": "conftest.py",
    "requirements.txt": "requirements.txt",
    f"{SUPPORT}/README.md": "support_README.md",
    f"{SUPPORT}/public_checks.py": "public_checks.py",
    f"{SUPPORT}/runner.py": "runner.py",
}


def points_data(rubric: Rubric) -> dict:
    """The contents of points.json: the rubric's tracks, parts (their modules, numpy only or
    not), questions with their points, and the policy for torch in numpy-only parts."""
    return {
        "generated_by": "dlexam release, from the course's rubric.toml: points are changed there",
        "tracks": {name: {"label": t.label, "parts": list(t.parts)}
                   for name, t in rubric.tracks.items()},
        "parts": [{"id": p.id, "title": p.title, "numpy_only": p.numpy_only,
                   "modules": [m for m in rubric.modules if rubric.module_part(m).id == p.id]}
                  for p in rubric.parts],
        "torch_in_numpy_part": rubric.torch_in_numpy_part,
        "questions": [{"id": q.id, "part": q.part, "points": q.points, "title": q.title,
                       "modules": list(q.modules)}
                      for q in rubric.questions],
    }


def _numpy_rule(rubric: Rubric) -> str:
    numpy_parts = [str(p.id) for p in rubric.parts if p.numpy_only]
    torch_parts = [str(p.id) for p in rubric.parts if not p.numpy_only]
    if not numpy_parts:
        return ""
    cost = ("an import of torch that nothing uses costs nothing, but a question whose code uses "
            "torch scores 0" if rubric.torch_in_numpy_part == "zero"
            else "a module that imports torch is reported to the graders")
    return (f"Parts {', '.join(numpy_parts)} use numpy only: {cost}, in the grader and in the "
            f"public checks alike" + (f"; part {', '.join(torch_parts)} uses torch." if torch_parts
                                      else "."))


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
        "points.json": json.dumps(points_data(rubric), indent=1) + "\n",
        "pytest.ini": (skeleton.ASSIGNMENTS_DIR / "pytest.ini").read_text(encoding="utf-8"),
    }
    files.update({path: _template(name) for path, name in FROM_TEMPLATES.items()})
    files.update({f"tests/{p.name}": p.read_text(encoding="utf-8")
                  for p in sorted(PUBLIC_TESTS.glob("*.py"))})
    files.update(support_from_kit())
    return files


def support_from_kit() -> dict[str, str]:
    """{bundle path: text} of the kit's own files that the public checks run on (KIT_FILES),
    as they are in the kit."""
    return {f"{SUPPORT}/autograder/{path.relative_to(KIT).as_posix()}": path.read_text(encoding="utf-8")
            for pattern in KIT_FILES for path in sorted(KIT.glob(pattern))}


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
