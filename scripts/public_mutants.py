"""Measure the student bundle's public checks on a mutant corpus, as students run them.

    python scripts/public_mutants.py                    # the kit's corpus (tests/corpus)
    python scripts/public_mutants.py tests/heldout      # the held-out one

Releases the bundle, makes a fresh virtual environment without the kit (numpy, torch and pytest
linked from this one), runs every public check on every mutant of its module and on every
correct implementation, and prints per question how many mutants a check of their own question
catches and how many of those failures carry a hint, then the correct implementations that
pass every check. The kit's tests assert these figures on the kit's corpus and that held-out
correct implementations pass (tests/test_public_checks.py); this script only reports.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from autograder.cli import main as dlexam  # noqa: E402
from helpers import isolated_venv  # noqa: E402
from tests.test_public_checks import public_verdicts, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=ROOT / "tests" / "corpus")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dlexam-public-") as tmp:
        tmp = Path(tmp)
        if dlexam(["release", str(tmp / "bundle")]) != 0:
            raise SystemExit("dlexam release failed")
        python = isolated_venv(tmp / "venv", numpy, torch, pytest)
        verdicts, seconds = public_verdicts(tmp / "bundle", python, tmp, args.corpus.resolve())
    print(report("kit" if args.corpus.name == "corpus" else args.corpus.name, verdicts, seconds))


if __name__ == "__main__":
    main()
