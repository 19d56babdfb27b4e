"""Where a module imports torch, read from its import statements: one function, shared by the
grader (intake: the rubric's "warn" policy) and the student bundle's public checks (a note after
`pytest`), which ships this file as it is. Standard library only.

The numpy-only rule itself is decided by what the code does (see scoring.py and
isolation/torch_stub): an import that nothing uses costs nothing. This only says where one is.
"""
from __future__ import annotations

import ast


def torch_imports(source: bytes) -> str:
    """Where a module's import statements reach torch ("import torch (line 3)"), or "".

    Only what runs when the module is imported or its functions are called counts: strings,
    docstrings, comments and the `if __name__ == "__main__":` block never do."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ""
    tree.body = [node for node in tree.body if not _is_main_guard(node)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "torch":
                    return f"import {alias.name} (line {node.lineno})"
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").split(".")[0] == "torch":
                return f"from {node.module} import ... (line {node.lineno})"
    return ""


def _is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":` (either way round)."""
    test = getattr(node, "test", None)
    if not isinstance(node, ast.If) or not isinstance(test, ast.Compare) or len(test.ops) != 1:
        return False
    sides = [test.left, test.comparators[0]]
    return (isinstance(test.ops[0], ast.Eq)
            and any(isinstance(x, ast.Name) and x.id == "__name__" for x in sides)
            and any(isinstance(x, ast.Constant) and x.value == "__main__" for x in sides))
