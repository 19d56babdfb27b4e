"""Per-student feedback in Markdown: per question, points, and each failed check explained."""
from __future__ import annotations

from pathlib import Path

from autograder import rubric as rubric_module
from autograder.output_files import safe_name, write_atomic
from autograder.reports.table import pts
from autograder.scoring import SubmissionScore


def render(score: SubmissionScore) -> str:
    rubric = rubric_module.load()
    lines = [f"# Feedback for {score.submission}", "",
             f"**Total: {pts(score.total)} / {pts(score.max)}** (on 20: {pts(score.on20)}), track {score.track}.", ""]
    for problem in score.problems:
        lines.append(f"- Submission: {problem}")
    if score.problems:
        lines.append("")
    for q in score.questions:
        lines += [f"## Q{q.id} — {q.title}: {pts(q.points)} / {pts(q.max)}", ""]
        if q.status == "not graded yet":
            lines += ["Not graded yet.", ""]
            continue
        lines += [f"- {note}" for note in q.notes]
        failed = [t for t in q.tests if not t.passed]
        if not failed:
            lines += ["All checks passed.", ""] if not q.notes else [""]
            continue
        passed = sum(t.passed for t in q.tests)
        functions = ", ".join(f"`{f}`" for f in rubric.question(q.id).functions)
        lines += [f"{passed} of {len(q.tests)} checks passed. What to look at: {functions}.", ""]
        for t in failed:
            lines += [f"- `{t.name}`", "", "  ```", *(f"  {l}" for l in t.message.splitlines()), "  ```"]
        lines.append("")
    return "\n".join(lines)


def write(score: SubmissionScore, folder: Path) -> Path:
    path = Path(folder) / f"{safe_name(score.submission)}.md"
    write_atomic(path, render(score))
    return path
