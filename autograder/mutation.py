"""Mutation analysis of the hidden suites: do they catch realistic bugs, and pass correct code?

Two corpus formats. The kit's own (tests/corpus/) holds
- mutants.toml: one-bug implementations, each an exact text edit of one solution module, with
  the question its bug lives in, and the words of the hint that should name its misconception;
- variants/<name>/<module>.py: alternative correct implementations, as functions that replace
  the solution's functions of the same name (other algorithms, float32 inside, other state
  layouts).
The held-out one (tests/heldout/), written from the docstrings by someone who never saw the
suites, holds whole modules instead:
- correct/<style>/<module>.py and fairness/<case>/<module>.py: correct implementations (a style
  or case is graded with the solutions' modules for the modules it does not have);
- mutants.toml: each mutant names the `base` style whose module it edits.
A hint is a list of words that must all appear, or a list of such lists (alternatives).

`analyse` grades every mutant and correct implementation in one batch and checks: each correct
one gets full marks; each mutant loses points on its own question and on no other, except a
question that the rubric declares uses the mutant's (`uses`) or that the mutant declares
(`also`); which mutants get a hint naming their misconception, and whether any gets a hint
naming another one.
"""
from __future__ import annotations

import ast
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder.rubric import load as load_rubric
from autograder.skeleton import SOLUTIONS_DIR

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORPUS_DIR = Path(__file__).resolve().parents[1] / "tests" / "corpus"


@dataclass(frozen=True)
class Mutant:
    id: str
    module: str
    question: str
    description: str
    old: str
    new: str
    also: tuple[str, ...] = ()     # other questions that use the broken function
    hint: tuple[tuple[str, ...], ...] = ()   # alternatives: words a naming hint all contains
    base: str = ""                 # held-out corpus: the style folder the edit applies to


@dataclass
class Verdict:
    """What grading did to one mutant or variant."""
    id: str
    question: str | None            # the mutant's question; None for a correct variant
    lost: dict[str, float]          # question -> points lost
    messages: list[str]             # failure messages of the tests of `question`
    hint_words: tuple[tuple[str, ...], ...] = ()
    problems: list[str] = field(default_factory=list)

    @property
    def caught(self) -> bool:
        return self.question in self.lost

    def _names_it(self, text: str) -> bool:
        return any(all(w.lower() in text.lower() for w in words) for words in self.hint_words)

    @property
    def hints(self) -> list[str]:
        """The hint lines of the messages (a grader's guess at the misconception)."""
        return sorted({line.strip()[len("hint: "):] for m in self.messages
                       for line in m.splitlines() if line.strip().startswith("hint: ")})

    @property
    def named(self) -> bool:
        """A failure message (its hint, or the message itself) names this misconception."""
        return any(self._names_it(m) for m in self.messages)

    @property
    def wrong_hints(self) -> list[str]:
        """Hints that name another misconception than this mutant's."""
        return [h for h in self.hints if self.hint_words and not self._names_it(h)]


def _alternatives(hint) -> tuple[tuple[str, ...], ...]:
    """["a", "b"] (all words) or [["a"], ["b", "c"]] (alternatives), as alternatives."""
    if all(isinstance(h, str) for h in hint):
        return (tuple(hint),) if hint else ()
    return tuple(tuple(words) for words in hint)


def load_mutants(corpus: Path = CORPUS_DIR) -> list[Mutant]:
    data = tomllib.loads((Path(corpus) / "mutants.toml").read_text(encoding="utf-8"))
    mutants = [Mutant(m["id"], m["module"], m["question"], m["description"], m["old"], m["new"],
                      tuple(m.get("also", ())), _alternatives(m.get("hint", ())),
                      m.get("base", ""))
               for m in data["mutant"]]
    ids = [m.id for m in mutants]
    if len(set(ids)) != len(ids):
        raise ValueError("mutants.toml: duplicate ids")
    return mutants


def variant_names(corpus: Path = CORPUS_DIR) -> list[str]:
    folder = Path(corpus) / "variants"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def whole_modules(corpus: Path) -> dict[str, Path]:
    """Held-out corpus: "correct-<style>" and "fairness-<case>" -> the folder of its modules."""
    found = {}
    for kind in ("correct", "fairness"):
        folder = Path(corpus) / kind
        if folder.is_dir():
            found.update({f"{kind}-{p.name}": p for p in sorted(folder.iterdir()) if p.is_dir()})
    return found


def apply_mutant(mutant: Mutant, source: str, where: str) -> str:
    """`source` with the mutant's edit; the edit must match exactly once."""
    count = source.count(mutant.old)
    if count != 1:
        raise ValueError(f"mutant {mutant.id}: its `old` text occurs {count} times in {where} "
                         f"(must be exactly once)")
    return source.replace(mutant.old, mutant.new)


def apply_variant(module_source: str, override_source: str) -> str:
    """`module_source` with each top-level function/class of `override_source` replacing the
    one of the same name (or appended), and the override's imports added at the top."""
    tree = ast.parse(module_source)
    lines = module_source.splitlines(keepends=True)
    spans = {node.name: (node.lineno - len(node.decorator_list), node.end_lineno)
             for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    override = ast.parse(override_source)
    over_lines = override_source.splitlines(keepends=True)
    imports, replacements, appended = [], {}, []
    for node in override.body:
        text = "".join(over_lines[node.lineno - 1 - len(getattr(node, "decorator_list", [])):node.end_lineno])
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(text)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in spans:
            replacements[spans[node.name]] = text
        elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            appended.append(text)
    out, position = [], 0
    for (start, end), text in sorted(replacements.items()):
        out += lines[position:start - 1] + [text]
        position = end
    out += lines[position:]
    return "".join(imports) + "".join(out) + "\n\n" + "\n\n".join(appended)


def strip_regions(source: str) -> str:
    """Solution modules carry region markers; a submission does not need them."""
    return "".join(l for l in source.splitlines(keepends=True)
                   if "### BEGIN SOLUTION" not in l and "### END SOLUTION" not in l)


def build(folder: Path, corpus: Path = CORPUS_DIR,
          solutions: Path = SOLUTIONS_DIR) -> dict[str, tuple[str | None, Mutant | None]]:
    """Write every mutant and correct implementation as a submission folder;
    {path: (question, mutant)}, question and mutant None for a correct one."""
    rubric = load_rubric()
    solution = {m: (solutions / f"{m}.py").read_text(encoding="utf-8") for m in rubric.modules}
    styles = whole_modules(corpus)

    def modules_of(folder: Path | None) -> dict[str, str]:
        """The modules of `folder`, and the solutions' for those it does not have."""
        return {m: (folder / f"{m}.py").read_text(encoding="utf-8")
                if folder and (folder / f"{m}.py").exists() else text
                for m, text in solution.items()}

    def write(name: str, modules: dict[str, str]) -> Path:
        target = Path(folder) / name
        target.mkdir(parents=True)
        for module, text in modules.items():
            (target / f"{module}.py").write_text(strip_regions(text))
        return target

    built = {}
    for mutant in load_mutants(corpus):
        modules = modules_of(styles[f"correct-{mutant.base}"] if mutant.base else None)
        where = f"correct/{mutant.base}/{mutant.module}.py" if mutant.base else \
            f"solutions/{mutant.module}.py"
        modules[mutant.module] = apply_mutant(mutant, modules[mutant.module], where)
        built[str(write(f"mutant-{mutant.id}", modules))] = (mutant.question, mutant)
    for name in variant_names(corpus):
        overrides = Path(corpus) / "variants" / name
        modules = {m: apply_variant(text, (overrides / f"{m}.py").read_text(encoding="utf-8"))
                   if (overrides / f"{m}.py").exists() else text for m, text in solution.items()}
        built[str(write(f"variant-{name}", modules))] = (None, None)
    for name, source in styles.items():
        built[str(write(name, modules_of(source)))] = (None, None)
    return built


def verdicts(built: dict, scores: list) -> list[Verdict]:
    out = []
    for (path, (question, mutant)), score in zip(built.items(), scores):
        lost = {q.id: round(q.max - q.points, 4) for q in score.questions if q.points < q.max}
        messages = [t.message for q in score.questions if q.id == question
                    for t in q.tests if not t.passed]
        out.append(Verdict(Path(path).name, question, lost, messages,
                           mutant.hint if mutant else (), list(score.problems)))
    return out


def analyse(corpus: Path = CORPUS_DIR, jobs: int = 2) -> tuple[list[Verdict], list[str]]:
    """Grade the corpus; return the verdicts and the list of failures of the corpus contract."""
    from autograder import batch

    mutants = {m.id: m for m in load_mutants(corpus)}
    rubric = load_rubric()
    with tempfile.TemporaryDirectory(prefix="dlexam-corpus-") as folder:
        built = build(Path(folder), corpus)
        results = batch.grade_class([Path(p) for p in built], "M2", jobs,
                                    Path(folder) / "results", force=True)
    from autograder.scoring import SubmissionScore

    found = verdicts(built, [SubmissionScore.from_json(r) for r in results])
    failures = []
    for v in found:
        if v.question is None:
            if v.lost:
                failures.append(f"{v.id}: a correct variant loses points on {v.lost}")
            continue
        mutant = mutants[v.id[len("mutant-"):]]
        if not v.caught:
            failures.append(f"{v.id}: not caught on Q{v.question} ({mutant.description})")
        composed = {q.id for q in rubric.questions if v.question in q.uses}
        undeclared = sorted(set(v.lost) - {v.question} - set(mutant.also) - composed)
        if undeclared:
            failures.append(f"{v.id}: loses points on undeclared questions {undeclared}")
        if v.wrong_hints:
            failures.append(f"{v.id}: a hint names another misconception: {v.wrong_hints[0]}")
    return found, failures


def mutation_scores(found: list[Verdict]) -> dict[str, tuple[int, int, int]]:
    """question -> (mutants, caught, named by a message or hint)."""
    table: dict[str, list[int]] = {}
    for v in found:
        if v.question is not None:
            row = table.setdefault(v.question, [0, 0, 0])
            row[0] += 1
            row[1] += v.caught
            row[2] += v.named
    rubric = load_rubric()
    return {q: tuple(table[q]) for q in rubric.ids if q in table}


def summary_lines(found: list[Verdict]) -> list[str]:
    """The mutation score per question and overall, as printed by `dlexam mutants`."""
    mutants = [v for v in found if v.question is not None]
    variants = [v for v in found if v.question is None]
    lines = ["mutation score per question (caught / mutants, named by a message or hint):"]
    lines += [f"  Q{q}: {caught}/{total} caught, {named}/{total} named"
              for q, (total, caught, named) in mutation_scores(found).items()]
    elsewhere = [v for v in mutants if set(v.lost) - {v.question}]
    wrong = [v for v in mutants if v.wrong_hints]
    lines += [f"  not caught: {v.id}" for v in mutants if not v.caught]
    lines += [f"  not named: {v.id}" for v in mutants if v.caught and not v.named]
    lines += [f"  loses elsewhere: {v.id} "
              + ", ".join(f"Q{q} -{p:g}" for q, p in sorted(v.lost.items()) if q != v.question)
              for v in elsewhere]
    lines += [f"  wrong hint: {v.id}: {v.wrong_hints[0][:150]}" for v in wrong]
    lines += [f"  correct but loses points: {v.id} "
              + ", ".join(f"Q{q} -{p:g}" for q, p in sorted(v.lost.items()))
              for v in variants if v.lost]
    lines.append(f"mutants: {sum(v.caught for v in mutants)}/{len(mutants)} caught, "
                 f"{sum(v.named for v in mutants)}/{len(mutants)} named, "
                 f"{len(elsewhere)} losing points on another question, {len(wrong)} with a hint "
                 f"naming another mistake; correct implementations: "
                 f"{sum(not v.lost for v in variants)}/{len(variants)} at full marks")
    return lines
