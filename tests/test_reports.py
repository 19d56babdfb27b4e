"""The reports on real graded results (the bundled examples) and on hostile student text: class
report, charts, feedback, gradebook, terminal tables, Markdown escaping."""
import copy
import csv
import io
import re

import markdown_it
import pytest
from rich.console import Console

from autograder import rubric as rubric_module
from autograder.reports import class_report, failures, feedback, gradebook, markdown, results, table
from autograder.scoring import SubmissionScore, TestResult as Outcome, score_submission

# Student text that would break out of Markdown code, link, load an image or pass HTML.
HOSTILE = ("`` ``` `x` ![pixel](http://evil.example/p.png) [click](http://evil.example) "
           "<img src=x onerror=alert(1)> <script>alert(1)</script> &amp; www.evil.example "
           "*bold* _it_ | a | b |\n\n# heading\n```\n~~~\n    indented\n- item\r\n> quote\u2028end")


def render_tokens(text: str) -> list:
    """Every token CommonMark (with GFM tables) makes of `text`, children included."""
    tokens, todo = [], markdown_it.MarkdownIt("commonmark").enable("table").parse(text)
    while todo:
        token = todo.pop()
        tokens.append(token)
        todo += token.children or []
    return tokens


CHARTS = {"totals.png", "questions.png", "separation.png"}


def assert_inert(text: str) -> None:
    """No link, HTML or image (but the report's own charts) anywhere; no backtick left outside
    code (a broken code span)."""
    tokens = render_tokens(text)
    assert not {t.type for t in tokens} & {"link_open", "html_inline", "html_block"}
    assert {t.attrs["src"] for t in tokens if t.type == "image"} <= CHARTS
    assert not [t.content for t in tokens if t.type == "text" and "`" in t.content]


@pytest.fixture(scope="module")
def examples(graded_examples):
    """The results of the correct, partial and skeleton examples, graded once by the CLI."""
    _, out = graded_examples
    return {s.submission: s for s in results.load([out / "results"])}


@pytest.fixture(scope="module")
def report(examples, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    nothing = SubmissionScore("nope", "M2", None, 35, None, [], {}, "no submission", [], [])
    scores = [*examples.values(), nothing]
    rows = class_report.summarize([s for s in scores if s.total is not None])
    class_report.charts([s for s in scores if s.total is not None], rows, out)
    return class_report.render(scores, rows), out


def question(score: SubmissionScore, qid: str):
    return next(q for q in score.questions if q.id == qid)


def synthetic(submission: str, *tests: tuple) -> SubmissionScore:
    """A score from (question, test name, passed, message[, note, error type]) outcomes,
    through the real scoring."""
    outcomes = [Outcome(q, name, 1.0, passed, message, *rest) for q, name, passed, message, *rest in tests]
    return score_submission(rubric_module.load(), "M2", submission, outcomes,
                            {q for q, *_ in tests}, {}, [], [])


# report.md

def test_the_report_counts_students_not_failed_tests(examples, report):
    text, _ = report
    stubbed = [s for s in examples.values() if any(
        failures.classify(t).kind == failures.NOT_ATTEMPTED
        for t in question(s, "3.4").tests if not t.passed)]
    failed_tests = sum(not t.passed for s in stubbed for t in question(s, "3.4").tests)
    assert failed_tests > 3 * len(stubbed)
    section = text.split("### Q3.4")[1].split("###")[0]
    assert f"not attempted (a stub raises NotImplementedError): {len(stubbed)} students of 3" in section
    dropout = [t for t in question(examples["partial"], "2.1").tests if "dropout is not inverted" in t.message]
    assert len(dropout) > 1
    assert "- misconception, 1 student: `dropout is not inverted" in text


def test_stubs_are_counted_apart_from_misconceptions(report):
    text, _ = report
    assert "NotImplementedError" not in "".join(
        line for line in text.splitlines() if line.startswith("- misconception"))
    assert "NotImplementedError: Q" not in text   # stubs are counted, not quoted one by one


def test_the_report_rounds_numbers_like_the_tables_and_quotes_whole_messages(examples, report):
    text, _ = report
    assert not re.findall(r"\d\.\d{3,}", text), "a number with more than two decimals"
    partial = examples["partial"]
    assert f"median {table.pts(partial.total)} / 35" in text   # the middle of 0, 27.93 and 35
    assert not [line for line in text.splitlines() if "#" in line.lstrip("#")]   # no "conv#d"
    assert_inert(text)


def test_the_report_quotes_a_long_message_whole():
    line = ("conv2d_backward(x, w, b, stride=2, padding=1) on x (2, 3, 9, 9): `dx` values differ "
            "(" + "the rest of a long message, " * 8 + "end)")
    scores = [synthetic("s", ("4.2", "test_cnn.py::test_conv2d_backward[0]", False, line))]
    text = class_report.render(scores, class_report.summarize(scores))
    assert line in [t.content for t in render_tokens(text) if t.type == "code_inline"]
    assert_inert(text)


def test_ungraded_submissions_are_listed_and_left_out_of_the_figures(report):
    text, _ = report
    assert "# Class report — 3 students" in text
    assert "Not counted, no grade (1): `nope` (no submission)" in text


def test_misconceptions_without_a_hint_are_grouped_by_check_with_the_message_intact():
    scores = [synthetic(f"s{i}", *[("4.2", f"test_cnn.py::test_conv2d_backward[{case}]", False,
                                     f"conv2d_backward(x{case}): values differ (l2 norm {i})")
                                    for case in range(4)]) for i in range(3)]
    rows = class_report.summarize(scores)
    text = class_report.render(scores, rows)
    assert ("- failed `test_cnn.py::test_conv2d_backward` without a known misconception, 3 students;"
            " for example: `conv2d_backward(x0): values differ (l2 norm 0)`") in text


def test_the_report_is_the_same_whatever_the_order_of_equal_counts():
    tests = [("3.1", "test_softmax.py::test_a", False, "a\n  hint: first (Q3.1)"),
             ("3.1", "test_softmax.py::test_b", False, "b\n  hint: second (Q3.1)")]
    one = class_report.render([synthetic("x", *tests)], class_report.summarize([synthetic("x", *tests)]))
    two = class_report.render([synthetic("x", *tests[::-1])],
                              class_report.summarize([synthetic("x", *tests[::-1])]))
    assert one == two and one.index("`first (Q3.1)`") < one.index("`second (Q3.1)`")


# charts

def test_the_totals_histogram_has_integer_counts_and_ends_at_20(examples):
    graded = list(examples.values())
    fig = class_report.totals_figure(graded)
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_xlabel() == "total on 20"
    assert all(float(tick).is_integer() for tick in ax.get_yticks())
    bars = [(p.get_x(), p.get_x() + p.get_width(), p.get_height()) for p in ax.patches]
    assert max(right for _, right, _ in bars) == 20
    full = sum(s.on20 == 20 for s in graded)
    assert full and (19, 20, full) in bars                  # 20/20 is drawn over 19-20


def test_the_question_chart_has_a_title_and_a_bar_per_question(examples, report):
    rows = class_report.summarize(list(examples.values()))
    ax = class_report.questions_figure(rows, 3).axes[0]
    assert ax.get_title().startswith("Per question")
    assert [label.get_text() for label in ax.get_xticklabels()] == [f"Q{r.id}" for r in rows]


def test_the_separation_chart_puts_each_question_against_the_total(examples, report):
    graded = list(examples.values())
    ax = class_report.separation_figure(graded).axes[0]
    assert "against the total" in ax.get_title()
    shares = ax.images[0].get_array()
    ordered = sorted(graded, key=lambda s: s.total)
    assert shares.shape == (len(ordered[0].questions), len(graded))
    assert list(shares.sum(axis=0)) == sorted(shares.sum(axis=0))    # weakest to strongest
    assert [t.get_text() for t in ax.get_xticklabels()] == [table.pts(s.on20) for s in ordered]
    _, out = report
    assert {p.name for p in out.iterdir()} == {"totals.png", "questions.png", "separation.png"}


# feedback

def test_feedback_groups_identical_failures(examples):
    text = feedback.render(examples["partial"])
    add = [t for t in question(examples["partial"], "3.4").tests
           if "implement Var.add_" in t.message]
    assert len(add) > 1
    line = next(line for line in text.splitlines() if "implement Var.add_" in line)
    assert text.count("implement Var.add_") == 1 and line.endswith(f": {len(add)} checks")
    dropout = sum("dropout is not inverted" in t.message for t in question(examples["partial"], "2.1").tests)
    assert text.count("dropout is not inverted") == 1
    assert f"{dropout} checks failed this way: `test_training.py::test_dropout" in text


def test_feedback_groups_an_exception_at_one_line_and_the_cases_of_one_check():
    score = synthetic("bob", *[
        ("1.1", f"test_mlp.py::test_linear[{i}]", False, f"linear(array ({i + 1}, 3)): ValueError: "
         f"shapes ({i + 1},3) and (5,3) not aligned (mlp.py, line 33)", "", "ValueError")
        for i in range(3)], *[
        ("1.1", f"test_mlp.py::test_tanh[{i}]", False, f"tanh(x) on x ({i + 2},): values differ")
        for i in range(2)])
    text = feedback.render(score)
    assert "3 checks raised the same exception: `test_mlp.py::test_linear` (3 cases)." in text
    assert "2 checks failed: `test_mlp.py::test_tanh` (2 cases)." in text
    assert text.count("```") == 2 * 2 and "shapes (2,3)" not in text   # one message per group


def test_feedback_leads_with_the_hint(examples):
    section = feedback.render(examples["partial"]).split("## Q1.3")[1].split("## Q")[0]
    hint = section.index("**Hint:** `your dW2 uses the pre-activation z1")
    assert hint < section.index("```") and "hint:" not in section[hint:]   # not repeated below


def test_the_feedback_of_an_untouched_skeleton_stays_short(examples):
    text = feedback.render(examples["skeleton"])
    assert len(text.encode()) < 16_000       # 87 KB when every failed check was listed
    for q in examples["skeleton"].questions:
        section = text.split(f"## Q{q.id} ")[1].split("## Q")[0]
        stubs = {failures.classify(t).key for t in q.tests if not t.passed}
        assert stubs and all(section.count(stub) == 1 for stub in stubs)
    assert_inert(text)


def test_feedback_says_how_checks_were_graded_once_per_note():
    note = "graded with the kit's own autodiff.Var.__init__ in place of yours"
    score = synthetic("alice", *[("3.3", f"test_autodiff.py::test_backward[{i}]", i > 0,
                                  "backward: values differ", note) for i in range(3)])
    section = feedback.render(score).split("## Q3.3")[1].split("## Q")[0]
    assert section.count(note) == 1 and f"`{note}` (3 checks)" in section


def test_a_stub_is_not_attempted_whatever_hint_a_suite_adds():
    stub = Outcome("2.4", "t", 1.0, False, "sigmoid(x): NotImplementedError: Q2.4: implement "
                   "sigmoid (training.py, line 9)\n  hint: exp overflows", "", "NotImplementedError")
    assert failures.classify(stub) == failures.Failure(
        failures.NOT_ATTEMPTED, "NotImplementedError: Q2.4: implement sigmoid (training.py, line 9)")


def test_feedback_quotes_student_text_inertly():
    score = synthetic(HOSTILE, ("3.1", "test_softmax.py::test_softmax[0]", False,
                                "softmax(array (2,)): ValueError: " + HOSTILE, HOSTILE, "ValueError"),
                      ("3.1", "test_softmax.py::test_softmax[1]", False,
                       "softmax(z): values differ\n  hint: " + HOSTILE),
                      ("3.1", "test_softmax.py::test_softmax[2]", False,
                       "softmax(z): NotImplementedError: " + HOSTILE, "", "NotImplementedError"))
    score.problems, score.warnings = [HOSTILE], [HOSTILE]
    score.questions[0].notes = [HOSTILE]
    text = feedback.render(score)
    assert_inert(text)
    blocks = markdown_it.MarkdownIt("commonmark").parse(text)
    headings = [blocks[i + 1].content for i, t in enumerate(blocks) if t.type == "heading_open"]
    assert len(headings) == 1 + len(score.questions)          # none from student text
    assert all(h.startswith(("Feedback for", "Q")) for h in headings)
    blocks = [t.content for t in render_tokens(text) if t.type == "fence"]
    assert any(HOSTILE.replace("\r\n", "\n").replace("\u2028", "\n") in b for b in blocks)


def test_the_class_report_quotes_student_text_inertly():
    scores = [synthetic(HOSTILE, ("3.1", "test_softmax.py::test_softmax[0]", False,
                                  "softmax(array (2,)): ValueError: " + HOSTILE, "", "ValueError"),
                        ("3.2", "test_autodiff.py::test_graph", False, "graph: " + HOSTILE),
                        ("3.3", "test_autodiff.py::test_backward", False, "x\n  hint: " + HOSTILE))]
    nothing = SubmissionScore(HOSTILE, "M2", None, 35, None, [], {}, "no submission", [], [])
    text = class_report.render([*scores, nothing], class_report.summarize(scores))
    assert_inert(text)
    blocks = markdown_it.MarkdownIt("commonmark").enable("table").parse(text)
    headings = [blocks[i + 1].content for i, t in enumerate(blocks) if t.type == "heading_open"]
    assert len(headings) == 2 + 3 and all(h.startswith(("Class report", "Misconceptions", "Q3."))
                                          for h in headings)


# Markdown helpers

@pytest.mark.parametrize("value", ["plain", "`", "a ` b", "``x``", " lead", "trail ", "x````y",
                                   "![i](u)", "<b>", "", "   "])
def test_a_code_span_shows_its_text_verbatim(value):
    span = markdown.code_span(value)
    tokens = [t for t in render_tokens(span) if t.type == "code_inline"]
    assert [t.content for t in tokens] == [value or " "]


def test_a_code_block_cannot_be_closed_from_inside():
    value = "a\n```\n````\n~~~\nb"
    tokens = [t for t in render_tokens(markdown.code_block(value) + "\n\nafter") if t.type == "fence"]
    assert [t.content for t in tokens] == [value + "\n"]


# gradebook

def test_gradebook_cells_never_become_formulas(tmp_path):
    ids = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2", "@SUM(A1)", "\tcmd", "alice"]
    scores = [synthetic(i, ("3.1", "test_softmax.py::t", True, "")) for i in [*ids, "\r=cmd", "a\nb"]]
    scores[ids.index("alice")].status = "=cmd|' /C calc'!A0"
    gradebook.write(scores, tmp_path / "grades.csv")
    rows = list(csv.reader(open(tmp_path / "grades.csv", newline="")))[1:]
    assert len(rows) == len(scores) and all(len(r) == len(rows[0]) for r in rows)
    assert [r[0] for r in rows] == ["'" + i for i in ids[:-1]] + ["alice", " =cmd", "a b"]
    assert rows[ids.index("alice")][-2] == "'=cmd|' /C calc'!A0"
    assert all(not cell.startswith(gradebook.FORMULA_STARTS) for r in rows for cell in r)


def test_a_submission_without_grade_has_empty_cells_not_zeros(tmp_path):
    nothing = SubmissionScore("nope", "M2", None, 35, None, [], {}, "no submission", [], [])
    gradebook.write([synthetic("alice", ("3.1", "t", True, "")), nothing], tmp_path / "g.csv")
    row = list(csv.DictReader(open(tmp_path / "g.csv")))[1]
    assert row["status"] == "no submission" and row["max"] == "35"
    assert set(row.values()) == {"nope", "", "35", "no submission"}


# terminal tables

def summary_lines(scores, width: int) -> list[str]:
    out = io.StringIO()
    table.render_summary(scores, Console(file=out, width=width))
    return out.getvalue().splitlines()


def test_the_summary_fits_80_columns_with_long_ids_and_every_status(examples):
    long = copy.deepcopy(examples["partial"])
    long.submission, long.status = "a-very-long-student-id-from-the-lms-export_2024_resubmitted", "pipeline error"
    nothing = SubmissionScore("nope", "M2", None, 35, None, [], {}, "no submission", [], [])
    scores = [*examples.values(), long, nothing]
    lines = summary_lines(scores, 80)
    text = "\n".join(lines)
    assert max(map(len, lines)) <= 80 and "…" not in text
    for s in examples.values():
        row = next(line.split() for line in lines if line.startswith(s.submission + " "))
        assert row == [s.submission, *(table.pts(p["points"]) for p in s.parts.values()),
                       table.pts(s.total), table.pts(s.on20), s.status]
    assert next(line for line in lines if line.startswith("nope ")).split() == ["nope", "no", "submission"]
    assert "pipeline error" in text and "a-very-long-st" in text   # the id wraps


def test_a_narrow_summary_drops_the_parts_but_never_cuts_a_total(examples):
    lines = summary_lines(list(examples.values()), 44)
    partial = examples["partial"]
    assert max(map(len, lines)) <= 44 and "…" not in "".join(lines)
    assert next(line for line in lines if line.startswith("partial ")).split() == [
        "partial", table.pts(partial.total), table.pts(partial.on20), "graded"]


def test_the_submission_table_fits_80_columns(examples):
    out = io.StringIO()
    for score in examples.values():
        table.render(score, Console(file=out, width=80))
    lines = out.getvalue().splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in out.getvalue()
    assert f"total {table.pts(examples['partial'].total)}/35" in out.getvalue()


def test_terminal_output_shows_student_markup_as_text():
    score = synthetic("[red]x[/red]\x1b[2J", ("3.1", "t", False, "[bold]boom[/bold]"))
    out = io.StringIO()
    table.render(score, Console(file=out, width=80))
    table.render_summary([score], Console(file=out, width=80))
    assert "[red]x[/red]" in out.getvalue() and "[bold]boom[/bold]" in out.getvalue()
