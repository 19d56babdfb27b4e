"""The public checks, as a student runs them: the released bundle in a fresh virtual environment
without the kit, on the correct example (every check passes), the skeleton (every check fails
naming its question), hand-made submissions (the numpy-only rule, inputs written into, forward and
backward apart, one module's estimate, short failures), and the kit's mutant corpus: the public
mutation score (mutants failing a public check of their own question) and every correct
implementation passing."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from autograder import mutation
from autograder import rubric as rubric_module
from autograder.cli import main
from helpers import isolated_venv

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"
MODULES = ("mlp", "training", "softmax", "autodiff", "cnn", "vae", "gan")
# The corpus runs in two pytest sessions side by side, of about equal work.
SESSIONS = (("training", "autodiff", "gan"), ("mlp", "softmax", "cnn", "vae"))
#: The environment of the fresh venv's runs: nothing that would lead it to the kit.
ALONE = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "bundle"
    assert main(["release", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def python(tmp_path_factory, released):
    """A fresh virtual environment's python that sees numpy, torch and pytest, not the kit, and
    in which the bundle's requirements.txt installs without the network."""
    import numpy
    import torch

    folder = tmp_path_factory.mktemp("venv")
    python = isolated_venv(folder / "venv", numpy, torch, pytest)
    assert subprocess.run([str(python), "-c", "import autograder"], cwd=folder, env=ALONE,
                          capture_output=True).returncode == 1
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                          "--no-index", "-r", "requirements.txt"], cwd=released,
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return python


def student(released: Path, tmp_path: Path, modules: dict[str, str] | None = None,
            example: str = "skeleton") -> Path:
    """A copy of the bundle holding an example's modules (a folder or a .zip of examples/), with
    `modules` ({name: source}) written over them."""
    folder = tmp_path / "student"
    shutil.copytree(released, folder)
    source = EXAMPLES / example
    if source.is_dir():
        for path in source.glob("*.py"):
            shutil.copy(path, folder / path.name)
    else:
        with zipfile.ZipFile(f"{source}.zip") as archive:
            for info in archive.infolist():
                if info.filename.endswith(".py"):
                    (folder / Path(info.filename).name).write_bytes(archive.read(info))
    for name, text in (modules or {}).items():
        (folder / f"{name}.py").write_text(text, encoding="utf-8")
    return folder


def run_pytest(python: Path, folder: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=folder, capture_output=True, text=True, timeout=1800,
                          env={**(os.environ if python == Path(sys.executable) else ALONE),
                               **(env or {})})


def solution(module: str) -> str:
    return mutation.strip_regions((ROOT / "solutions" / f"{module}.py").read_text())


def estimate_lines(output: str) -> list[str]:
    """The lines after the estimate's header, which must end the output."""
    lines = output.rstrip().splitlines()
    start = max(i for i, line in enumerate(lines) if "estimate on the exam's point scale" in line)
    return lines[start + 1:]


# --- the examples ----------------------------------------------------------------------------
def test_every_check_passes_on_the_correct_example(released, python, tmp_path):
    run = run_pytest(python, student(released, tmp_path, example="correct"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    tail = estimate_lines(run.stdout)
    assert "estimate 25/25  (track M1: first-year master (parts 1-4))" in tail
    assert "estimate 35/35  (track M2: second-year master (all parts))" in tail
    assert "hidden tests check more" in tail[-1]
    assert "not graded yet" not in run.stdout


def test_every_check_fails_naming_its_question_on_the_skeleton(released, python, tmp_path):
    """Each public check of the untouched skeletons fails with the NotImplementedError of a
    function of its own question, or of an earlier question of its module that it builds on
    (cnn_forward calls conv2d, Q4.1)."""
    folder = student(released, tmp_path)
    rubric = rubric_module.load()
    run = run_pytest(python, folder, f"--junitxml={tmp_path / 'junit.xml'}")
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    import xml.etree.ElementTree as ET

    cases = list(ET.parse(tmp_path / "junit.xml").iter("testcase"))
    assert len(cases) > 150
    for case in cases:
        failure = case.find("failure")
        assert failure is not None, f"{case.get('name')} passed on a skeleton"
        message = failure.get("message")
        named = re.search(r"NotImplementedError: Q(\d+\.\d+): implement ([\w.]+)", message)
        assert named, (case.get("name"), message)
        module = case.get("classname").split(".")[-1].removeprefix("test_")
        question = rubric.question_of(f"{module}.{named.group(2)}")
        assert question is not None and question.id == named.group(1), message
    assert re.search(r"estimate 0/35 +\(track M2", estimate_lines(run.stdout)[-2])


def test_the_estimate_equals_dlexam_check(released, tmp_path):
    """`pytest` in the bundle and `dlexam check` print the same estimate (the partial
    example), and `dlexam check 2` only part 2's questions."""
    folder = student(released, tmp_path, example="partial")
    run = run_pytest(Path(sys.executable), folder, "-q")
    estimate = re.search(r"estimate (\S+)/35 +\(track M2", run.stdout)
    assert estimate, run.stdout[-3000:]
    rows = re.findall(r"^Q(\d\.\d) .*?(\S+)/\d+ +\d+ of \d+ checks passed$", run.stdout, re.M)
    check = subprocess.run([sys.executable, "-m", "autograder.cli", "check", "--dir", str(folder)],
                           capture_output=True, text=True, timeout=600,
                           env={**os.environ, "COLUMNS": "200"})
    assert "estimate on the exam's point scale" in check.stdout
    total = re.search(r"estimate (\S+)/35 +\(track M2", check.stdout)
    assert total, check.stdout[-3000:]
    assert float(estimate.group(1)) == float(total.group(1)) > 0
    for qid, points in rows:
        assert re.search(rf"│ {re.escape(qid)} .*│ +{re.escape(points)}/", check.stdout), qid
    assert "not graded yet" not in check.stdout
    part = subprocess.run([sys.executable, "-m", "autograder.cli", "check", "2", "--dir",
                           str(folder)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200"})
    shown = set(re.findall(r"│ (\d\.\d) ", part.stdout))
    assert shown and all(q.startswith("2.") for q in shown), part.stdout[-2000:]


# --- hand-made submissions --------------------------------------------------------------------
def test_one_module_shows_only_its_questions(released, python, tmp_path):
    run = run_pytest(python, student(released, tmp_path, {"cnn": solution("cnn")}),
                     "tests/test_cnn.py")
    tail = estimate_lines(run.stdout)
    assert [line.split()[0] for line in tail[:2]] == ["Q4.1", "Q4.2"]
    assert tail[2:] == ["estimate 4/4  (the questions of cnn.py)", tail[-1]]


NUMPY_TANH = "    return np.tanh(x)\n"


def test_an_unused_torch_import_is_a_note_and_a_used_one_fails(released, python, tmp_path):
    """As the grader decides it: `import torch` that nothing uses costs nothing (a note after
    the checks); torch used in a check fails it with TorchNotAllowed and the question scores 0;
    an import in the __main__ block or a docstring is not reported."""
    mlp = solution("mlp")
    assert NUMPY_TANH in mlp
    unused = run_pytest(python, student(released, tmp_path / "unused",
                                        {"mlp": "import torch\n" + mlp}), "tests/test_mlp.py")
    assert unused.returncode == 0, unused.stdout[-3000:]
    assert "mlp.py imports torch (import torch (line 1)), but no check used it" in unused.stdout
    used = run_pytest(python, student(released, tmp_path / "used", {
        "mlp": "import torch\n" + mlp.replace(NUMPY_TANH, "    return torch.tanh(x)\n")}),
        "tests/test_mlp.py")
    assert re.search(r"tanh\(array \(\d.*\)\): TorchNotAllowed: torch.tanh was used, but parts "
                     r"1-4 of the exam are numpy only", used.stdout), used.stdout[-3000:]
    tail = estimate_lines(used.stdout)
    assert re.match(r"Q1\.1 .* 0/2 ", tail[0]) and "scored 0: torch was used" in tail[1]
    assert "mlp.py imports torch (import torch (line 1)) and uses it" in used.stdout
    hidden = run_pytest(python, student(released, tmp_path / "main", {
        "mlp": '"""Checked against torch.tanh."""\n' + mlp + '\nif __name__ == "__main__":\n'
               '    import torch\n'}), "tests/test_mlp.py")
    assert hidden.returncode == 0 and "imports torch" not in hidden.stdout


def test_writing_into_an_input_is_its_own_failure(released, python, tmp_path):
    """As in the grader: arrays and dicts are passed read-only, and writing into one fails the
    call with its own message."""
    softmax = solution("softmax")
    head = "def softmax(z, axis=-1):\n"
    assert head in softmax
    run = run_pytest(python, student(released, tmp_path, {"softmax": softmax.replace(
        head, head + "    z -= z.max(axis=axis, keepdims=True)\n")}), "tests/test_softmax.py")
    assert re.search(r"softmax\(array \([\d, ]+\), axis=-?\d\): ValueError: .*read-only "
                     r"\(softmax.py, line \d+\)\n  your function modifies one of its inputs in place: "
                     r"functions must not change their inputs", run.stdout), run.stdout[-3000:]


def test_forward_and_backward_are_checked_apart(released, python, tmp_path):
    """A right max_pool2d with no max_pool2d_backward passes every check of max_pool2d."""
    no_backward = solution("cnn") + ('\n\ndef max_pool2d_backward(dout, x, k, stride=None):\n'
                                     '    raise NotImplementedError("Q4.2: implement '
                                     'max_pool2d_backward")\n')
    run = run_pytest(python, student(released, tmp_path, {"cnn": no_backward}),
                     "tests/test_cnn.py", "-rA")
    passed = re.findall(r"PASSED tests/test_cnn.py::(test_\w+)", run.stdout)
    failed = re.findall(r"FAILED tests/test_cnn.py::(test_\w+)", run.stdout)
    assert set(failed) == {"test_max_pool2d_backward"}, run.stdout[-3000:]
    assert passed.count("test_max_pool2d") == 3


def test_failures_are_the_checks_messages(released, python, tmp_path):
    """A failed check shows the grader's message and hint, not pytest's traceback."""
    mlp = solution("mlp").replace("    return float(-log_probs[np.arange(len(y)), y].mean())",
                                  "    return float(-log_probs[np.arange(len(y)), y].sum())")
    run = run_pytest(python, student(released, tmp_path, {"mlp": mlp}), "tests/test_mlp.py")
    failures = run.stdout[run.stdout.index("= FAILURES ="):run.stdout.index("short test summary")]
    sections = dict(zip(*[iter(re.split(r"\n_{3,} (\S+) _{3,}\n", failures)[1:])] * 2))
    lines = sections["test_nll_loss"].strip().splitlines()
    assert len(lines) == 4, lines     # the message, expected vs got, the errors, the hint
    assert lines[0].startswith("nll_loss(logits, y) on logits (7, 4), y (7,): values differ")
    assert lines[3] == ("  hint: summed over the batch instead of averaged: nll_loss is the batch "
                        "mean (Q1.1)")


# --- the mutant corpora -------------------------------------------------------------------------
def public_verdicts(released, python, tmp_path, corpus: Path,
                    correct_only: bool = False) -> tuple[list, float]:
    """Every mutant and correct implementation of `corpus` (only the correct ones with
    `correct_only`) run through the public checks (two pytest sessions side by side, each test
    file on the mutants of its module and on every correct implementation):
    (mutation.Verdict per folder, seconds)."""
    built = mutation.build(tmp_path / "folders", corpus)
    if correct_only:
        built = {path: verdict for path, verdict in built.items() if verdict[1] is None}
    results, runs = tmp_path / "results.jsonl", []
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    shutil.copy(Path(__file__).with_name("public_many.py"), plugin)
    started = time.monotonic()
    for n, modules in enumerate(SESSIONS):
        folders = {f"test_{m}": [p for p, (_, mutant) in built.items()
                                 if mutant is None or mutant.module == m] for m in modules}
        (tmp_path / f"folders{n}.json").write_text(json.dumps(folders))
        runs.append(subprocess.Popen(
            [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-p", "public_many", "-q",
             *(f"tests/test_{m}.py" for m in modules)], cwd=released, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**ALONE, "PYTHONPATH": str(plugin),
                 "PUBLIC_FOLDERS": str(tmp_path / f"folders{n}.json"),
                 "PUBLIC_RESULTS": str(results)}))
    for run in runs:
        output, _ = run.communicate(timeout=3600)
        assert run.returncode in (0, 1), output[-3000:]    # 1: some checks failed
    seconds = time.monotonic() - started
    outcomes: dict[str, list] = {}
    for line in results.read_text().splitlines():
        record = json.loads(line)
        outcomes.setdefault(record["folder"], []).append(record)
    verdicts = []
    for path, (question, mutant) in built.items():
        checks = outcomes.get(path, [])
        assert checks, f"no public check ran on {path}"
        failed = [c for c in checks if not c["passed"]]
        lost = {c["question"]: 1.0 for c in failed}
        verdicts.append(mutation.Verdict(Path(path).name, question, lost,
                                         [c["message"] for c in failed if c["question"] == question],
                                         mutant.hint if mutant else ()))
    return verdicts, seconds


def report(name: str, verdicts: list, seconds: float) -> str:
    mutants = [v for v in verdicts if v.question is not None]
    per_question = Counter(v.question for v in mutants)
    caught = Counter(v.question for v in mutants if v.caught)
    named = Counter(v.question for v in mutants if v.caught and v.named)
    lines = [f"public checks on the {name} corpus ({seconds:.0f} s):"]
    lines += [f"  Q{q}: {caught[q]}/{n} caught on their own question, {named[q]} named"
              for q, n in sorted(per_question.items(), key=lambda i: [int(x) for x in i[0].split(".")])]
    lines.append(f"  mutants: {sum(caught.values())}/{len(mutants)} caught, "
                 f"{sum(named.values())} of those with a message naming their mistake; correct "
                 f"implementations passing every check: "
                 f"{sum(not v.lost for v in verdicts if v.question is None)}/"
                 f"{sum(v.question is None for v in verdicts)}")
    return "\n".join(lines)


def test_public_mutation_score_on_the_kit_corpus(released, python, tmp_path, capsys):
    verdicts, seconds = public_verdicts(released, python, tmp_path, mutation.CORPUS_DIR)
    with capsys.disabled():
        print("\n" + report("kit", verdicts, seconds))
    correct = [v for v in verdicts if v.question is None]
    assert [v.id for v in correct if v.lost] == []
    mutants = [v for v in verdicts if v.question is not None]
    assert sum(v.caught for v in mutants) >= 0.95 * len(mutants)
    assert sum(v.named for v in mutants if v.caught) >= 0.8 * sum(v.caught for v in mutants)
    assert [(v.id, v.wrong_hints) for v in mutants if v.wrong_hints] == []


def test_every_heldout_correct_implementation_passes_every_public_check(released, python,
                                                                       tmp_path):
    """The held-out styles and fairness cases (prints, torch in docstrings, unused imports,
    graphlib, slow loops, ...), written without the kit: a correct program never fails a public
    check. Their mutants are measured, not tested (scripts/public_mutants.py): the public checks
    are not tuned to them."""
    verdicts, _ = public_verdicts(released, python, tmp_path, ROOT / "tests" / "heldout",
                                  correct_only=True)
    assert len(verdicts) >= 18   # 4 styles and 14 fairness cases
    assert {v.id: sorted(v.lost) for v in verdicts if v.lost} == {}
