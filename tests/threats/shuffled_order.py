"""A pytest plugin for the determinism test: each submission's questions in a random order, and
each question's tests in a random order (a question's tests stay together: one child serves
them). Loaded into a grading run with PYTEST_PLUGINS=shuffled_order; the seed is
$DLEXAM_SHUFFLE_SEED."""
import os
import random

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    rng = random.Random(int(os.environ["DLEXAM_SHUFFLE_SEED"]))
    blocks: dict = {}
    for item in items:
        submission = item.callspec.params["submission"]
        blocks.setdefault(submission, {}).setdefault(
            item.get_closest_marker("question").args[0], []).append(item)
    shuffled = []
    for submission in sorted(blocks):
        questions = list(blocks[submission].values())
        rng.shuffle(questions)
        for tests in questions:
            rng.shuffle(tests)
            shuffled += tests
    items[:] = shuffled
