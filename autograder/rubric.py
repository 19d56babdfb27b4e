"""The exam's rubric, read from rubric.toml: parts, questions, points, tracks and policies.

Nothing else in the kit holds a point value: scoring, reports, the skeleton generator and the
pytest plugin all ask this module.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

RUBRIC_PATH = Path(__file__).with_name("rubric.toml")


@dataclass(frozen=True)
class Question:
    id: str            # "1.3"
    part: int
    points: float
    title: str
    functions: tuple[str, ...]   # "module.function" or "module.Class.method"
    # Questions whose functions this one's tests cannot avoid running (the exam question is
    # the composition, e.g. back-propagation through the student's own ops): a bug there may
    # cost here too. Every other cross-question use goes through a stand-in.
    uses: tuple[str, ...] = ()
    uses_why: str = ""

    @property
    def modules(self) -> tuple[str, ...]:
        """Student modules holding this question's functions, e.g. ("mlp",)."""
        return tuple(dict.fromkeys(f.split(".")[0] for f in self.functions))


@dataclass(frozen=True)
class Part:
    id: int
    title: str
    numpy_only: bool


@dataclass(frozen=True)
class Track:
    name: str
    label: str
    parts: tuple[int, ...]


@dataclass(frozen=True)
class Rubric:
    parts: tuple[Part, ...]
    questions: tuple[Question, ...]
    tracks: dict[str, Track]
    torch_in_numpy_part: str     # "zero" or "warn"

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(f"unknown question {qid!r}; the rubric has {', '.join(self.ids)}")

    @property
    def ids(self) -> list[str]:
        return [q.id for q in self.questions]

    def part(self, pid: int) -> Part:
        return next(p for p in self.parts if p.id == pid)

    def questions_in(self, track: str) -> list[Question]:
        parts = self.tracks[track].parts
        return [q for q in self.questions if q.part in parts]

    def max_points(self, track: str) -> float:
        return sum(q.points for q in self.questions_in(track))

    @property
    def modules(self) -> list[str]:
        """Every student module name, in exam order."""
        return list(dict.fromkeys(m for q in self.questions for m in q.modules))

    def module_part(self, module: str) -> Part:
        return self.part(next(q.part for q in self.questions if module in q.modules))

    def question_of(self, qualified_name: str) -> Question | None:
        """The question a function belongs to: "mlp.linear" -> Q1.1, or None if ungraded."""
        for q in self.questions:
            if qualified_name in q.functions:
                return q
        return None


def _validated(rubric: Rubric) -> Rubric:
    ids = rubric.ids
    if len(set(ids)) != len(ids):
        raise ValueError("rubric.toml: duplicate question ids")
    part_ids = {p.id for p in rubric.parts}
    for q in rubric.questions:
        if q.part not in part_ids:
            raise ValueError(f"rubric.toml: question {q.id} names unknown part {q.part}")
        if q.points <= 0:
            raise ValueError(f"rubric.toml: question {q.id} has no points")
        if not set(q.uses) <= set(ids) or (q.uses and not q.uses_why):
            raise ValueError(f"rubric.toml: question {q.id} uses unknown questions, or does not "
                             f"say why (uses_why)")
    for t in rubric.tracks.values():
        if not set(t.parts) <= part_ids:
            raise ValueError(f"rubric.toml: track {t.name} names an unknown part")
    if rubric.torch_in_numpy_part not in ("zero", "warn"):
        raise ValueError("rubric.toml: policy.torch_in_numpy_part must be 'zero' or 'warn'")
    return rubric


def parse(text: str) -> Rubric:
    data = tomllib.loads(text)
    return _validated(Rubric(
        parts=tuple(Part(p["id"], p["title"], p["numpy_only"]) for p in data["parts"]),
        questions=tuple(
            Question(q["id"], q["part"], float(q["points"]), q["title"], tuple(q["functions"]),
                     tuple(q.get("uses", ())), q.get("uses_why", ""))
            for q in data["questions"]
        ),
        tracks={name: Track(name, t["label"], tuple(t["parts"]))
                for name, t in data["tracks"].items()},
        torch_in_numpy_part=data["policy"]["torch_in_numpy_part"],
    ))


@functools.cache
def load(path: Path = RUBRIC_PATH) -> Rubric:
    return parse(Path(path).read_text(encoding="utf-8"))
