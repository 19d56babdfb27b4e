"""The Q2.7 failure messages say what differs (issue 14): the hidden suite run on minibatches
implementations built to fail one check each."""
import shutil
import textwrap

import pytest

from autograder import grading
from autograder.plugin import SUITES_DIR

# shuffle=False: range order for the first two batches only, then reversed
LATE_DISORDER = """
import numpy as np

def minibatches(n, batch_size, rng, shuffle=True):
    order = rng.permutation(n) if shuffle else np.arange(n)
    if not shuffle:
        order[2 * batch_size:] = order[2 * batch_size:][::-1]
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]
"""

# the last, smaller batch dropped: nothing at all when n < batch_size
DROP_LAST = """
import numpy as np

def minibatches(n, batch_size, rng, shuffle=True):
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n - batch_size + 1, batch_size):
        yield order[start:start + batch_size]
"""


@pytest.fixture(scope="module")
def messages(tmp_path_factory):
    """{(submission, test name): message} of the failed Q2.7 tests."""
    root = tmp_path_factory.mktemp("q27")
    suites = root / "suites"
    suites.mkdir()
    for name in ("pytest.ini", "test_training_optim.py"):
        shutil.copy(SUITES_DIR / name, suites / name)
    folders = []
    for name, source in (("late", LATE_DISORDER), ("drop", DROP_LAST)):
        folder = root / name
        folder.mkdir()
        (folder / "training.py").write_text(textwrap.dedent(source))
        folders.append(folder)
    scores = grading.grade(folders, suites=suites)
    return {(score.submission, test.name): test.message for score in scores
            for question in score.questions if question.id == "2.7"
            for test in question.tests if not test.passed}


def test_range_order_message_shows_the_first_batch_that_differs(messages):
    test = "test_training_optim.py::test_minibatches_in_range_order_without_shuffle[0]"
    message = messages[("late", test)]
    assert "batch 2 is [22, 21, 20, 19, 18], expected [10, 11, 12, 13, 14]" in message


def test_batch_sizes_message_counts_batches_as_they_are(messages):
    small = messages[("drop", "test_training_optim.py::test_minibatches_partition_range_n[2]")]
    assert "expected 1 batch of 7" in small and "batches of 10" not in small
    large = messages[("drop", "test_training_optim.py::test_minibatches_partition_range_n[0]")]
    assert "expected 10 batches of 10 and a last one of 3" in large
    assert "hint: the last, smaller batch was dropped" in large
