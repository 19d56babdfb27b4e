"""Lets the public tests import your modules from this folder, and prints an estimate on the
exam's point scale after `pytest`.

The estimate gives each question its points (from points.json, generated from the course's
rubric) times the share of its public checks that passed, the way `dlexam check` does; a
question none of whose checks ran counts 0. The hidden tests check more cases, so your grade
can be lower than the estimate.
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
POINTS = json.loads((HERE / "points.json").read_text(encoding="utf-8"))

_question_of = {}   # test node id -> question id, from its @pytest.mark.question marker
_outcomes = {}      # question id -> [passed, ...], one entry per check run


def pytest_collection_modifyitems(items):
    for item in items:
        marker = item.get_closest_marker("question")
        if marker and marker.args:
            _question_of[item.nodeid] = marker.args[0]


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.failed):
        if report.nodeid in _question_of:
            _outcomes.setdefault(_question_of[report.nodeid], []).append(report.passed)


def _pts(x):
    return f"{round(x, 2):g}"


def estimate():
    """[(question, estimated points, checks passed, checks run)] in exam order."""
    rows = []
    for q in POINTS["questions"]:
        runs = _outcomes.get(q["id"], [])
        rows.append((q, q["points"] * sum(runs) / len(runs) if runs else 0.0, sum(runs), len(runs)))
    return rows


def pytest_terminal_summary(terminalreporter):
    if "autograder.public" in sys.modules or not _outcomes:
        return   # `dlexam check` prints its own table; nothing to estimate without a check
    write = terminalreporter.write_line
    terminalreporter.section("estimate on the exam's point scale")
    rows = estimate()
    for q, points, passed, run in rows:
        checks = f"{passed} of {run} checks passed" if run else "no public check run"
        write(f"Q{q['id']:<5}{q['title'][:52]:<54}{_pts(points):>5}/{_pts(q['points']):<3}  {checks}")
    for name, track in POINTS["tracks"].items():
        mine = [(q, points) for q, points, _, _ in rows if q["part"] in track["parts"]]
        total, maximum = sum(p for _, p in mine), sum(q["points"] for q, _ in mine)
        write(f"estimate {_pts(total)}/{_pts(maximum)}  (track {name}: {track['label']})")
    write("An estimate from the public checks: the hidden tests check more cases.")
