"""`dlexam report RESULTS_DIR --out DIR`: how a class did, question by question.

Writes DIR/report.md with a per-question table (mean, full-mark rate), the most frequent failure
messages per question, and two PNG charts: the histogram of totals on 20 and each question's
mean share of its points.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from autograder.output_files import write_atomic
from autograder.scoring import SubmissionScore

TOP_FAILURES = 3


def load_results(folder: Path) -> list[SubmissionScore]:
    """Every result file `dlexam grade` wrote in `folder` (one JSON object per submission)."""
    import json

    scores = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if isinstance(data, dict) and "questions" in data:
            scores.append(SubmissionScore.from_json(data))
    return scores


def failure_kind(message: str) -> str:
    """A message's first line with numbers and shapes blanked, so alike failures group."""
    first = message.splitlines()[0] if message else "failed"
    return re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "#", first)[:160]


def summarize(scores: list[SubmissionScore]) -> list[dict]:
    """Per question: id, title, max, mean, full-mark rate and its most frequent failures."""
    rows = []
    for i, q in enumerate(scores[0].questions):
        mine = [s.questions[i] for s in scores]
        failures = Counter(failure_kind(t.message) for qs in mine for t in qs.tests if not t.passed)
        rows.append({"id": q.id, "title": q.title, "max": q.max,
                     "mean": sum(x.points for x in mine) / len(mine),
                     "full": sum(x.points == x.max for x in mine) / len(mine),
                     "failures": failures.most_common(TOP_FAILURES)})
    return rows


def charts(scores: list[SubmissionScore], rows: list[dict], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    histogram, per_question = out / "totals.png", out / "questions.png"
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist([s.on20 for s in scores], bins=range(0, 22), edgecolor="black")
    ax.set_xlabel("total on 20")
    ax.set_ylabel("submissions")
    ax.set_title(f"Totals on 20 ({len(scores)} submissions)")
    fig.tight_layout()
    fig.savefig(histogram, dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.bar([f"Q{r['id']}" for r in rows], [r["mean"] / r["max"] for r in rows], label="mean share")
    ax.plot([f"Q{r['id']}" for r in rows], [r["full"] for r in rows], "ko", label="full marks")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of the points")
    ax.legend()
    ax.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    fig.savefig(per_question, dpi=100)
    plt.close(fig)
    return [histogram, per_question]


def write(results_dir: Path, out: Path) -> Path:
    scores = load_results(results_dir)
    if not scores:
        raise ValueError(f"no result files in {results_dir} (run `dlexam grade ... --results {results_dir}`)")
    tracks = {s.track for s in scores}
    if len(tracks) > 1:
        raise ValueError(f"results of several tracks in {results_dir}: {sorted(tracks)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = summarize(scores)
    charts(scores, rows, out)
    totals = sorted(s.total for s in scores)
    lines = [f"# Class report — {len(scores)} submissions, track {scores[0].track}", "",
             f"Mean {sum(totals) / len(totals):.2f} / {scores[0].max:g}, median "
             f"{totals[len(totals) // 2]:g}; {sum(s.status != 'graded' for s in scores)} not fully graded.",
             "", "![totals](totals.png)", "", "![questions](questions.png)", "",
             "| question | title | mean | full marks |", "|---|---|---|---|"]
    lines += [f"| Q{r['id']} | {r['title']} | {r['mean']:.2f} / {r['max']:g} | {100 * r['full']:.0f}% |"
              for r in rows]
    lines += ["", "## Most frequent failures", ""]
    for r in rows:
        if r["failures"]:
            lines.append(f"### Q{r['id']} — {r['title']}")
            lines += [f"- {count}× `{kind}`" for kind, count in r["failures"]]
            lines.append("")
    report = out / "report.md"
    write_atomic(report, "\n".join(lines) + "\n")
    return report
