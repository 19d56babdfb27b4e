"""The one place a score is computed: test outcomes -> questions -> parts -> track total -> /20.

A question scores points × (weight of its passed tests / weight of all its tests). A question
with no test in the suites scores 0 and says "not graded yet". The numpy-only rule is decided by
what the code does: in the children of parts 1-4 torch is a stand-in that raises TorchNotAllowed
when used (isolation/torch_stub), so a question one of whose tests failed that way broke the
rule, and scores 0 under the rubric's policy "zero". Under "warn" torch works there, and the
questions of a module that imports torch carry a warning.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from autograder.rubric import Rubric

NUMPY_ONLY_ERROR = "TorchNotAllowed"   # raised by isolation/torch_stub when torch is used


@dataclass
class TestResult:
    question: str
    name: str
    weight: float
    passed: bool
    message: str = ""
    note: str = ""           # how it was graded, when that is worth saying (stand-ins)
    error_type: str = ""     # the student's exception class, when one failed the test


@dataclass
class QuestionScore:
    id: str
    part: int
    title: str
    points: float
    max: float
    status: str                  # "graded", "not graded yet", "numpy-only rule"
    tests: list[TestResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class SubmissionScore:
    submission: str
    track: str
    total: float
    max: float
    on20: float
    questions: list[QuestionScore]
    parts: dict[str, dict[str, float]]
    status: str                  # "graded", or "not graded: <why>" when nothing could be graded
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sandbox: str = "namespaces"  # or "own uid" / "none": graded with --unsafe-no-sandbox

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "SubmissionScore":
        """Rebuild from to_json() output (extra keys such as a fingerprint are ignored)."""
        questions = [QuestionScore(**{**q, "tests": [TestResult(**t) for t in q["tests"]]})
                     for q in data["questions"]]   # tests of older results lack note, error_type
        fields = {k: data[k] for k in ("submission", "track", "total", "max", "on20", "parts",
                                       "status", "problems", "warnings") if k in data}
        fields["sandbox"] = data.get("sandbox", "namespaces")
        return cls(questions=questions, **fields)


def score_submission(rubric: Rubric, track: str, submission_id: str, results: list[TestResult],
                     graded: set[str], imports_torch: dict[str, str], problems: list[str],
                     warnings: list[str], notes_of: dict[str, list[str]] | None = None,
                     sandbox: str = "namespaces") -> SubmissionScore:
    """Score one submission on `track` from its test results.

    `graded` holds the ids of questions that have at least one test in the suites;
    `imports_torch` maps a student module to where it imports torch (see intake.torch_imports);
    `notes_of` maps a question to lines about how it was graded (output dropped, ...).
    """
    by_question: dict[str, list[TestResult]] = {}
    for r in results:
        by_question.setdefault(r.question, []).append(r)
    warnings = list(warnings)
    questions = []
    for q in rubric.questions_in(track):
        tests = by_question.get(q.id, [])
        total_weight = sum(t.weight for t in tests)
        passed_weight = sum(t.weight for t in tests if t.passed)
        points = q.points * passed_weight / total_weight if total_weight else 0.0
        status = "graded" if q.id in graded else "not graded yet"
        notes = list((notes_of or {}).get(q.id, []))
        if rubric.part(q.part).numpy_only:
            if rubric.torch_in_numpy_part == "zero":
                used = [t for t in tests if t.error_type == NUMPY_ONLY_ERROR]
                if used:
                    points, status = 0.0, "numpy-only rule"
                    notes.append(f"scored 0: torch was used in a numpy-only part "
                                 f"({len(used)} of {len(tests)} checks ran into it)")
            else:
                notes += [f"warning: {m}.py imports torch ({imports_torch[m]}), but parts 1-4 "
                          f"are numpy only" for m in q.modules if m in imports_torch]
        questions.append(QuestionScore(q.id, q.part, q.title, round(points, 4), q.points,
                                       status, tests, notes))
        warnings += [f"Q{q.id}: {n}" for n in notes if n.startswith("warning")]
    total = round(sum(q.points for q in questions), 4)
    maximum = rubric.max_points(track)
    parts = {}
    for pid in rubric.tracks[track].parts:
        mine = [q for q in questions if q.part == pid]
        parts[str(pid)] = {"points": round(sum(q.points for q in mine), 4),
                           "max": sum(q.max for q in mine)}
    status = "graded" if results or not problems else "not graded: " + problems[0]
    return SubmissionScore(submission_id, track, total, maximum, round(20 * total / maximum, 2),
                           questions, parts, status, list(problems), warnings, sandbox)
