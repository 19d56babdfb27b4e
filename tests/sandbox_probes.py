"""A student module that looks around from inside its sandbox, and the grader-side driver.

Shared by tests/test_sandbox.py (the test process's mode) and tests/test_unprivileged.py (the
same checks, run as an unprivileged user).
"""
import importlib.util
import os
import tempfile
from pathlib import Path

import autograder
from autograder.isolation import filesystem

PROBES_SOURCE = '''
import importlib, os, socket

def look(paths):
    found = {"cwd": os.getcwd(), "listing": sorted(os.listdir(".")), "pid": os.getpid(),
             "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
             "uid": os.getuid(), "groups": os.getgroups()}
    for name, path in paths.items():
        found[name] = os.path.exists(path)
    home = paths["home_of_grader_visible"]
    found["home_listing"] = sorted(os.listdir(home)) if os.path.isdir(home) else []
    found["imports"] = {}
    for module in ("numpy.typing", "graphlib", "numpy.testing", "matplotlib.pyplot"):
        try:
            importlib.import_module(module)
            found["imports"][module] = True
        except Exception as error:
            found["imports"][module] = repr(error)
    found["writes"] = {}
    for folder in ("/submission", "/usr", "/tmp", "/"):
        try:
            with open(os.path.join(folder, "written-by-a-child"), "w") as f:
                f.write("x")
            found["writes"][folder] = True
        except OSError:
            found["writes"][folder] = False
    try:
        socket.create_connection(("127.0.0.1", 22), timeout=1).close()
        found["network"] = "connected"
    except OSError as error:
        found["network"] = f"refused: {error}"
    with open("/proc/self/status") as f:
        found["capabilities"] = next(int(line.split()[1], 16) for line in f
                                     if line.startswith("CapEff"))
    try:
        import torch
        torch.zeros(1)
        found["torch"] = "usable"
    except Exception as error:
        found["torch"] = f"{type(error).__name__}: {error}"
    found["torch_files"] = sorted(os.listdir(paths["torch_dir"])) if os.path.isdir(
        paths["torch_dir"]) else None
    return found
'''


def look_around(parent, folder: Path) -> dict:
    """What a child of `parent` grading `folder` (holding PROBES_SOURCE as mlp.py, readable by
    all, as intake leaves a submission's folder) finds."""
    kit = Path(autograder.__file__).resolve().parent
    torch_spec = importlib.util.find_spec("torch")
    paths = {"kit_visible": str(kit / "rubric.toml"),
             "suites_visible": str(kit / "suites" / "test_mlp.py"),
             "scratch_visible": str(Path(tempfile.gettempdir())),
             "home_of_grader_visible": os.path.expanduser("~"),
             "torch_dir": torch_spec.submodule_search_locations[0]}
    child = parent.spawn(folder)
    try:
        found = child.call("call", "mlp", "look", paths, timeout=60)["value"]
    finally:
        child.close()
    found["scratch_visible"] = found["scratch_visible"] and tempfile.gettempdir() != "/tmp"
    # The grader's home shows only the folders that lead to the interpreter, when it lives there.
    home = os.path.expanduser("~")
    leading = {Path(p).relative_to(home).parts[0] for p in filesystem.python_view().binds
               if p.startswith(home.rstrip("/") + "/")}
    found["home_shows_only_the_way_to_python"] = set(found.pop("home_listing")) <= leading
    del found["home_of_grader_visible"]
    return found
