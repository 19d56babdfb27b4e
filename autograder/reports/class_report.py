"""`dlexam report RESULTS_DIR... --out DIR`: how a class did, question by question.

Writes DIR/report.md and three PNG charts:
- a table per question: mean, students with full marks, students who left a stub
  (NotImplementedError: "not attempted"), and the mean share of the top third of the class (by
  total) against the bottom third's;
- per question, the misconceptions (hints) and the other failures, counted in students: a
  student who fails ten checks the same way counts once; stubs are counted apart;
- totals.png: the histogram of the totals on 20 (bins of one point, the last one ending at 20);
- questions.png: each question's mean share of its points and its full-mark rate;
- separation.png: the share each student got of each question, students sorted by total:
  a question that separates strong from weak students turns from red to green along the row.
Submissions without a grade ("no submission") are listed, not counted. Points are rounded as
everywhere else (table.pts), shares to whole percents. Student text is quoted with markdown.py.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, median

from autograder.output_files import write_atomic
from autograder.reports import failures, markdown, results
from autograder.reports.table import pts
from autograder.scoring import QuestionScore, SubmissionScore

TOP = 5          # misconceptions and other failures listed per question


def pct(share: float) -> str:
    return f"{round(100 * share)}%"


def students(n: int) -> str:
    return f"{n} student{'s' if n != 1 else ''}"


@dataclass
class QuestionSummary:
    id: str
    title: str
    max: float
    mean: float
    full: int                       # students with full marks
    not_attempted: int              # students with a stub still raising NotImplementedError
    top_share: float                # mean share of the points, top third of the class
    bottom_share: float             # the same, bottom third
    misconceptions: Counter = field(default_factory=Counter)     # hint -> students
    other: Counter = field(default_factory=Counter)              # test function -> students
    example: dict[str, str] = field(default_factory=dict)        # test function -> first line


def thirds(graded: list[SubmissionScore]) -> tuple[list[int], list[int]]:
    """Indices of the bottom and the top third of `graded` by total (at least one each)."""
    order = sorted(range(len(graded)), key=lambda i: (graded[i].total, graded[i].submission))
    size = max(1, len(order) // 3)
    return order[:size], order[-size:]


def summarize(graded: list[SubmissionScore]) -> list[QuestionSummary]:
    """Per question of the track, in exam order: the figures of the report's table and lists."""
    bottom, top = thirds(graded)
    rows = []
    for i, q in enumerate(graded[0].questions):
        mine: list[QuestionScore] = [s.questions[i] for s in graded]
        row = QuestionSummary(q.id, q.title, q.max, mean(x.points for x in mine),
                              sum(x.points == x.max for x in mine), 0,
                              mean(mine[j].points / q.max for j in top),
                              mean(mine[j].points / q.max for j in bottom))
        for x in mine:
            failed = [(failures.classify(t), t) for t in x.tests if not t.passed]
            row.not_attempted += any(f.kind == failures.NOT_ATTEMPTED for f, _ in failed)
            row.misconceptions.update({f.key for f, _ in failed if f.kind == failures.MISCONCEPTION})
            others: dict[str, str] = {}
            for f, t in failed:
                if f.kind in (failures.RAISED, failures.FAILED):
                    others.setdefault(failures.check_name(t.name), failures.first_line(t.message))
            row.other.update(others.keys())
            for name, line in others.items():
                row.example.setdefault(name, line)
        rows.append(row)
    return rows


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def totals_figure(graded: list[SubmissionScore]):
    """Histogram of the totals on 20: one bar per point, the last bin [19, 20] holds the 20s."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure(7, 4)
    on20 = [s.on20 for s in graded]
    ax.hist(on20, bins=np.arange(0, 21), edgecolor="black")
    ax.set_xlim(0, 20)
    ax.set_xticks(range(0, 21, 2))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("total on 20")
    ax.set_ylabel("students")
    ax.set_title(f"Totals on 20: {students(len(on20))}, mean {pts(mean(on20))}, "
                 f"median {pts(median(on20))}")
    fig.tight_layout()
    return fig


def questions_figure(rows: list[QuestionSummary], n: int):
    """Per question: mean share of the points (bars) and share of students with full marks."""
    from matplotlib.ticker import PercentFormatter

    fig, ax = _figure(10, 4.5)
    labels = [f"Q{r.id}" for r in rows]
    ax.bar(labels, [r.mean / r.max for r in rows], label="mean share of the points")
    ax.plot(labels, [r.full / n for r in rows], "ko", label="students with full marks")
    ax.set_ylim(0, 1.15)   # room for the legend above the 100% line
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("question")
    ax.set_title(f"Per question: mean share of the points and full-mark rate ({students(n)})")
    ax.legend(loc="upper right", ncol=2)
    ax.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    return fig


def separation_figure(graded: list[SubmissionScore]):
    """Each student's share of each question's points, students sorted by total."""
    import numpy as np

    ordered = sorted(graded, key=lambda s: (s.total, s.submission))
    shares = np.array([[q.points / q.max for q in s.questions] for s in ordered]).T
    fig, ax = _figure(10, 1.5 + 0.28 * len(shares))
    image = ax.imshow(shares, aspect="auto", cmap="RdYlGn", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks(range(len(shares)), [f"Q{q.id}" for q in ordered[0].questions])
    ticks = sorted({round(i) for i in np.linspace(0, len(ordered) - 1, min(len(ordered), 11))})
    ax.set_xticks(ticks, [pts(ordered[i].on20) for i in ticks])
    ax.set_xlabel("students, weakest to strongest (tick labels: their total on 20)")
    ax.set_title("Score per question against the total: which questions separate strong from "
                 "weak students")
    fig.colorbar(image, ax=ax, label="share of the question's points", fraction=0.03, pad=0.02)
    fig.tight_layout()
    return fig


def charts(graded: list[SubmissionScore], rows: list[QuestionSummary], out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = []
    for name, fig in (("totals.png", totals_figure(graded)),
                      ("questions.png", questions_figure(rows, len(graded))),
                      ("separation.png", separation_figure(graded))):
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        paths.append(out / name)
    return paths


def top(counts: Counter) -> list[tuple[str, int]]:
    """The TOP most frequent, ties in alphabetical order (the same report on every run)."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP]


def question_lines(row: QuestionSummary, n: int) -> list[str]:
    lines = [f"### Q{row.id} — {row.title}", ""]
    if row.not_attempted:
        lines.append(f"- not attempted (a stub raises NotImplementedError): "
                     f"{students(row.not_attempted)} of {n}")
    lines += [f"- misconception, {students(count)}: {markdown.code_span(hint)}"
              for hint, count in top(row.misconceptions)]
    lines += [f"- failed {markdown.code_span(name)} without a known misconception, "
              f"{students(count)}; for example: {markdown.code_span(row.example[name])}"
              for name, count in top(row.other)]
    return lines + [""] if len(lines) > 2 else []


def render(scores: list[SubmissionScore], rows: list[QuestionSummary]) -> str:
    graded = [s for s in scores if s.total is not None]
    ungraded = [s for s in scores if s.total is None]
    n = len(graded)
    totals = [s.total for s in graded]
    maximum = graded[0].max
    lines = [f"# Class report — {students(n)}, track {graded[0].track} ({pts(maximum)} points)", "",
             f"Total: mean {pts(mean(totals))} / {pts(maximum)}, median {pts(median(totals))} / "
             f"{pts(maximum)}; on 20: mean {pts(mean(s.on20 for s in graded))}, median "
             f"{pts(median(s.on20 for s in graded))}. "
             f"{students(sum(s.status != 'graded' for s in graded))} not fully graded "
             "(pipeline error or no gradable test).", ""]
    if ungraded:
        lines += [f"Not counted, no grade ({len(ungraded)}): "
                  + ", ".join(f"{markdown.code_span(s.submission)} ({s.status})" for s in ungraded),
                  ""]
    lines += ["![Histogram of the totals on 20](totals.png)", "",
              "![Mean share and full-mark rate per question](questions.png)", "",
              "![Score per question against the total](separation.png)", "",
              "| question | title | mean | full marks | not attempted | top third vs bottom third |",
              "|---|---|---|---|---|---|"]
    lines += [f"| Q{r.id} | {r.title} | {pts(r.mean)} / {pts(r.max)} | {r.full} ({pct(r.full / n)}) "
              f"| {r.not_attempted} ({pct(r.not_attempted / n)}) "
              f"| {pct(r.top_share)} vs {pct(r.bottom_share)} |" for r in rows]
    lines += ["", "## Misconceptions and failures, per question", "",
              "Counted in students: a student who fails several checks the same way counts once. "
              "Top and bottom thirds are by total; their figure is the mean share of the "
              "question's points.", ""]
    for r in rows:
        lines += question_lines(r, n)
    return "\n".join(lines)


def write(results_dirs: list[Path], out: Path) -> Path:
    scores = results.load(results_dirs)
    graded = [s for s in scores if s.total is not None]
    folders = " ".join(map(str, results_dirs))
    if not graded:
        raise ValueError(f"no graded result in {folders} (run `dlexam grade ... --results DIR`)")
    tracks = {s.track for s in scores}
    if len(tracks) > 1:
        raise ValueError(f"results of several tracks in {folders}: {sorted(tracks)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = summarize(graded)
    charts(graded, rows, out)
    report = out / "report.md"
    write_atomic(report, render(scores, rows) + "\n")
    return report
