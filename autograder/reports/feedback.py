"""Per-student feedback in Markdown: per question, points, and the failed checks grouped.

Checks that failed the same way (the same hint, the same exception at the same line, or the
cases of one check; see failures.py) are one entry: the hint first, how many checks of which test functions, and one
message in full. Stubs still raising NotImplementedError are one line each, so the feedback of
an untouched skeleton stays short. Student text is quoted inertly (markdown.py).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from autograder import rubric as rubric_module
from autograder.output_files import safe_name, write_atomic
from autograder.reports import failures, markdown
from autograder.reports.table import pts
from autograder.scoring import QuestionScore, SubmissionScore

ORDER = [failures.MISCONCEPTION, failures.RAISED, failures.FAILED, failures.NOT_ATTEMPTED]


def grouped(tests) -> list[tuple[failures.Failure, list]]:
    """The failed tests grouped by failure, misconceptions first, then in suite order."""
    groups: dict[failures.Failure, list] = {}
    for t in tests:
        if not t.passed:
            groups.setdefault(failures.classify(t), []).append(t)
    return sorted(groups.items(), key=lambda item: ORDER.index(item[0].kind))


def checks(n: int) -> str:
    return f"{n} check{'s' if n != 1 else ''}"


def names(tests) -> str:
    """The tests, by test function: "`test_mlp.py::test_linear` (4 cases)"."""
    cases = Counter(failures.check_name(t.name) for t in tests)
    return ", ".join(markdown.code_span(base) + (f" ({n} cases)" if n > 1 else "")
                     for base, n in cases.items())


def group_lines(failure: failures.Failure, tests) -> list[str]:
    if failure.kind == failures.NOT_ATTEMPTED:
        return [f"- {markdown.code_span(failure.key)}: {checks(len(tests))}"]
    hint = failure.kind == failures.MISCONCEPTION
    lines = [f"**Hint:** {markdown.code_span(failure.key)}", ""] if hint else []
    how = {failures.MISCONCEPTION: "failed this way", failures.RAISED: "raised the same exception",
           failures.FAILED: "failed"}[failure.kind] if len(tests) > 1 else "failed"
    lines += [f"{checks(len(tests))} {how}: {names(tests)}."
              + (" The first one:" if len(tests) > 1 else ""), "",
              markdown.code_block(failures.without_hints(tests[0].message)), ""]
    return lines


def question_lines(q: QuestionScore, functions: tuple[str, ...]) -> list[str]:
    lines = [f"## Q{q.id} — {q.title}: {pts(q.points)} / {pts(q.max)}", ""]
    if q.status == "not graded yet":
        return lines + ["Not graded yet.", ""]
    test_notes = Counter(t.note for t in q.tests if t.note)   # how checks were graded (stand-ins)
    notes = [markdown.code_span(note) for note in q.notes]
    notes += [f"{markdown.code_span(note)} ({checks(n)})" for note, n in test_notes.items()]
    lines += [f"- {note}" for note in notes] + ([""] if notes else [])
    groups = grouped(q.tests)
    if not groups:
        return lines + ([] if notes else ["All checks passed.", ""])
    passed = sum(t.passed for t in q.tests)
    where = ", ".join(markdown.code_span(f) for f in functions)
    lines += [f"{passed} of {checks(len(q.tests))} passed. What to look at: {where}.", ""]
    stubs = sum(failure.kind == failures.NOT_ATTEMPTED for failure, _ in groups)   # listed last
    for i, (failure, tests) in enumerate(groups):
        if i == len(groups) - stubs:
            lines += ["Not implemented yet (the stub still raises NotImplementedError):", ""]
        lines += group_lines(failure, tests)
    return lines + ([""] if stubs else [])


def render(score: SubmissionScore) -> str:
    rubric = rubric_module.load()
    lines = [f"# Feedback for {markdown.code_span(score.submission)}", ""]
    if score.total is None:
        lines += [f"No grade: {markdown.code_span(score.status)}.", ""]
    else:
        lines += [f"**Total: {pts(score.total)} / {pts(score.max)}** (on 20: {pts(score.on20)}), "
                  f"track {score.track}.", ""]
    lines += [f"- Submission: {markdown.code_span(problem)}" for problem in score.problems]
    lines += [f"- Warning: {markdown.code_span(warning)}" for warning in score.warnings]
    if score.problems or score.warnings:
        lines.append("")
    for q in score.questions:
        lines += question_lines(q, rubric.question(q.id).functions)
    return "\n".join(lines)


def write(score: SubmissionScore, folder: Path) -> Path:
    path = Path(folder) / f"{safe_name(score.submission)}.md"
    write_atomic(path, render(score))
    return path
