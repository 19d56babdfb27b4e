"""A pytest plugin for the kit's own tests: a released bundle's public checks run on many
submission folders in one session (`-p public_many`, this file on PYTHONPATH).

$PUBLIC_FOLDERS names a JSON file {"<test file stem>": [folder, ...]}: each public test file
runs on its own folders (the mutants of its module and the correct implementations), through
the bundle's own `submission` fixture, whose `student_folder` this plugin parametrizes. Items
run folder by folder. Each check's outcome is written to $PUBLIC_RESULTS, one JSON line:
{"folder", "test", "question", "passed", "message"}. The bundle is used as it is: nothing here
changes how a check runs or what it says.
"""
import json
import os
from pathlib import Path

FOLDERS = json.loads(Path(os.environ["PUBLIC_FOLDERS"]).read_text())
RESULTS = open(os.environ["PUBLIC_RESULTS"], "a", encoding="utf-8")
_seen: dict = {}   # nodeid -> (folder, question)


def pytest_generate_tests(metafunc):
    if "student_folder" in metafunc.fixturenames:
        folders = FOLDERS.get(metafunc.module.__name__.split(".")[-1], [])
        metafunc.parametrize("student_folder", [Path(f) for f in folders],
                             ids=[Path(f).name for f in folders])


def pytest_collection_modifyitems(items):
    for item in items:
        marker = item.get_closest_marker("question")
        _seen[item.nodeid] = (str(item.callspec.params["student_folder"]), marker.args[0])
    items.sort(key=lambda item: _seen[item.nodeid][0])


def pytest_runtest_logreport(report):
    if report.nodeid in _seen and (report.when == "call" or report.failed) and not report.skipped:
        folder, question = _seen[report.nodeid]
        RESULTS.write(json.dumps({"folder": folder, "test": report.nodeid, "question": question,
                                  "passed": report.passed,
                                  "message": report.longreprtext if report.failed else ""}) + "\n")
        RESULTS.flush()
