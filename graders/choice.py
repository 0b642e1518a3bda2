"""Multiple-choice grading by the extraction rule of each benchmark's official code.

A benchmark declares a `ChoiceRule`: the official code it follows, the text substitutions that
code makes before looking for an answer, and that code's regular expressions in its order, each
taken at its first match (`re.search`) or its last. The first pattern that matches gives the
letter; the letter is compared to the gold letter exactly as the official code compares it (no
case folding unless the official code folds). No benchmark names appear here: the rules live in
the benchmark modules (benchmarks/gpqa.py, benchmarks/mmlu_pro.py), which also say where they
deliberately differ from their official code.

One difference is common to all: when no pattern matches, the grade is *unparsed* (score 0,
`parsed=False`), whatever the official code does then (MMLU-Pro's draws a random letter).

Patterns are compiled once per rule. An official pattern that backtracks quadratically on long
answers (MMLU-Pro's `.*answer:` and its "last standalone letter" look-ahead) is declared in an
equivalent linear form; tests/unit/test_choice_grader.py checks each against the official regex
on generated texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal

from avp_harness.types import Completion, Grade, Item

# The machinery's own version; a rule's name and version are appended (see ChoiceGrader.version).
CHOICE_GRADER_VERSION = "2"


@dataclass(frozen=True)
class Pattern:
    """One regex of an official extractor: group 1 (or the whole match) is the letter."""

    regex: str
    take: Literal["first", "last"] = "first"
    flags: int = 0


@dataclass(frozen=True)
class ChoiceRule:
    """How one benchmark's official code reads the chosen letter from a response.

    `name` and `version` go into every grade (bump `version` when the rule changes, so
    `avp regrade` can tell which grades it touched); `follows` names the official code.
    """

    name: str
    version: str
    follows: str
    patterns: tuple[Pattern, ...]
    remove: tuple[str, ...] = ()  # substrings the official code deletes before matching

    def extract(self, text: str) -> tuple[str, int] | None:
        """(letter, 1-based index of the pattern that found it), or None when none matches."""
        for old in self.remove:
            text = text.replace(old, "")
        for number, (pattern, take) in enumerate(_compiled(self.patterns), start=1):
            match = pattern.search(text) if take == "first" else _last(pattern, text)
            if match is not None:
                return match.group(1 if pattern.groups else 0), number
        return None


@lru_cache(maxsize=64)
def _compiled(patterns: tuple[Pattern, ...]) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(p.regex, p.flags), p.take) for p in patterns)


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    match = None
    for match in pattern.finditer(text):  # noqa: B007 - the loop keeps the last one
        pass
    return match


def extract_choice(text: str, rule: ChoiceRule) -> str | None:
    """The letter `rule` reads from `text`, or None."""
    found = rule.extract(text)
    return found[0] if found else None


class ChoiceGrader:
    """Grades a completion against the gold letter in `item.target` by one `ChoiceRule`.

    The grader id stays `choice` (so `avp regrade --grader choice` finds every choice grade);
    the version names the rule: `2/<rule name>/<rule version>`.
    """

    id = "choice"

    def __init__(self, rule: ChoiceRule) -> None:
        self.rule = rule

    @cached_property
    def version(self) -> str:
        return f"{CHOICE_GRADER_VERSION}/{self.rule.name}/{self.rule.version}"

    def grade_text(self, text: str, target: str) -> Grade:
        """Synchronous core (also used by `avp grade`, perf scripts and record checks)."""
        found = self.rule.extract(text)
        if found is None:
            return Grade(
                score=0.0,
                extracted=None,
                explanation=f"no answer found by {self.rule.name} (unparsed, scored 0)",
                grader=self.id,
                grader_version=self.version,
                parsed=False,
            )
        letter, step = found
        correct = letter == str(target)
        return Grade(
            score=1.0 if correct else 0.0,
            extracted=letter,
            explanation=f"answered {letter} (pattern {step} of {self.rule.name}), gold {target}",
            grader=self.id,
            grader_version=self.version,
        )

    async def __call__(self, item: Item, completion: Completion) -> Grade:
        return self.grade_text(completion.text, item.target)
