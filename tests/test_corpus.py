"""Mutation analysis: correct variants get full marks, one-bug mutants are caught on their own
question (and lose points elsewhere only where declared), and hints name the misconception."""
import pytest

from autograder import mutation


@pytest.fixture(scope="module")
def analysis():
    return mutation.analyse()


def test_the_corpus_contract_holds(analysis):
    _, failures = analysis
    assert failures == []


def test_the_corpus_covers_every_question(analysis):
    found, _ = analysis
    scores = mutation.mutation_scores(found)
    rubric = mutation.load_rubric()
    thin = [q.id for q in rubric.questions if scores.get(q.id, (0,))[0] < (2 if q.points == 2 else 1)]
    assert thin == [], f"questions without enough mutants: {thin}"
    assert len([v for v in found if v.question is None]) >= 8


def test_hints_name_most_misconceptions(analysis, capsys):
    found, _ = analysis
    mutants = [v for v in found if v.question is not None]
    named = sum(v.named for v in mutants)
    with capsys.disabled():
        print("\n" + "\n".join(mutation.summary_lines(found)))
    assert named >= 0.8 * len(mutants)
