"""The mistakes catalogues of Parts 4 and 5 (autograder/mistakes/cnn.py, vae.py, gan.py) keep
what the public checks will rely on when they ship them to students: one function per student
function, called with that function's own parameters plus `expected`, importing nothing but
numpy and torch, and every hint free of a question tag (the grader adds it)."""
import ast
import importlib
import inspect
from pathlib import Path

import pytest

from autograder.skeleton import SOLUTIONS_DIR

MODULES = ["cnn", "vae", "gan"]
CATALOGUE = Path(importlib.import_module("autograder.mistakes").__file__).parent


def student_functions(module: str) -> dict[str, list[str]]:
    """name -> parameter names of each public function of solutions/<module>.py."""
    tree = ast.parse((SOLUTIONS_DIR / f"{module}.py").read_text(encoding="utf-8"))
    return {node.name: [a.arg for a in node.args.args] for node in tree.body
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")}


@pytest.mark.parametrize("module", MODULES)
def test_one_mistakes_function_per_student_function(module):
    catalogue = importlib.import_module(f"autograder.mistakes.{module}")
    for name, parameters in student_functions(module).items():
        function = getattr(catalogue, name, None)
        assert callable(function), f"mistakes/{module}.py has no {name}()"
        assert list(inspect.signature(function).parameters) == parameters + ["expected"], name


@pytest.mark.parametrize("module", MODULES)
def test_catalogue_is_standalone(module):
    tree = ast.parse((CATALOGUE / f"{module}.py").read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "numpy", "torch"}, imported


@pytest.mark.parametrize("module", MODULES)
def test_hints_name_no_question(module):
    text = (CATALOGUE / f"{module}.py").read_text(encoding="utf-8")
    assert "(Q" not in text
