"""Choice extraction against RouterBench's recorded correctness on ARC-Challenge (11 real LLMs).

RouterBench's records come from OpenAI evals runs (withmartian/routerbench converts them with its
`OpenAIEvalsConvertor`); its ARC-Challenge prompts are 5-shot completions ending in `Answer:`,
graded by evals' `Match`: correct when the sampled text starts with the ideal letter
(`evals.api.record_and_check_match`, `sampled.startswith(option)`). That rule is declared here as
a `ChoiceRule` (no benchmark module serves these records), and the graders must reproduce every
recorded label; so must MMLU-Pro's official rule (its last-standalone-letter fallback reads bare
letters). Before the per-benchmark rules, the single lenient last-answer rule agreed on 0.9999
(15,919 of 15,921: it missed `A questioning...` and `A chart...`, recorded correct).

Each response is stored as the repr of a Python list of completions (`"['C']"`): that is the
record format, unwrapped here before grading. The records carry no gold letter, so it is derived
leave-one-out: for one model's cell, the gold is the letter that the *other* models recorded as
correct answered with a bare letter (cells whose gold cannot be derived that way are counted and
left out). Empty correctness cells are missing, not 0.
"""

from __future__ import annotations

import ast
import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from benchmarks import mmlu_pro
from graders.choice import ChoiceGrader, ChoiceRule, Pattern
from tests.conftest import shared_path

pytestmark = pytest.mark.integration

# OpenAI evals `Match`: the sampled completion starts with the ideal answer.
EVALS_MATCH = ChoiceRule(
    name="openai-evals-match",
    version="1",
    follows="openai/evals api.py record_and_check_match: sampled.startswith(ideal)",
    patterns=(Pattern(r"\A([A-Z0-9])"),),
)
META_COLUMNS = {"", "sample_id", "prompt", "eval_name", "oracle_model_to_route_to"}
INSTRUCTION = re.compile(r'Print only a single choice\s+from ((?:"[A-Z0-9]"(?: or )?)+)')


def arc_rows(folder: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows += [r for r in csv.DictReader(handle) if r["eval_name"] == "arc-challenge"]
    return rows


def unwrap(response: str) -> str:
    """RouterBench stores `repr([completion])`; fall back to the raw text if it is not that."""
    try:
        value = ast.literal_eval(response)
    except (ValueError, SyntaxError):
        return response
    return str(value[0]) if isinstance(value, list) and value else response


def offered_letters(prompt: str) -> str:
    """The letters the last question offers, from its 'Print only a single choice from ...'."""
    *_, last = INSTRUCTION.finditer(prompt)
    return "".join(re.findall(r'"([A-Z0-9])"', last.group(1)))


@pytest.mark.parametrize(
    ("rule", "expected"),
    [(EVALS_MATCH, 15_921), (mmlu_pro.EXTRACTION, 15_921)],
    ids=["openai-evals-match", "tiger-lab-mmlu-pro"],
)
def test_choice_rules_agree_with_routerbench_records(rule: ChoiceRule, expected: int) -> None:
    rows = arc_rows(shared_path("records", "routerbench_subset"))
    assert len(rows) == 1_484
    models = [c for c in rows[0] if c not in META_COLUMNS and "|" not in c]
    assert len(models) == 11
    grader = ChoiceGrader(rule)
    confusion: Counter[tuple[str, str]] = Counter()
    no_gold = missing = 0
    for row in rows:
        letters = offered_letters(row["prompt"])
        responses = {m: unwrap(row[f"{m}|model_response"]) for m in models}
        for model in models:
            recorded = row[model].strip()
            if recorded == "":
                missing += 1
                continue
            golds = {
                responses[other].strip()
                for other in models
                if other != model
                and row[other].strip() == "1.0"
                and re.fullmatch(f"[{letters}]", responses[other].strip())
            }
            if len(golds) != 1:
                assert len(golds) == 0  # the records never disagree on the gold letter
                no_gold += 1
                continue
            grade = grader.grade_text(responses[model], golds.pop())
            graded = "unparsed" if not grade.parsed else str(int(grade.score))
            confusion[(str(int(float(recorded))), graded)] += 1
    total = sum(confusion.values())
    agree = confusion[("1", "1")] + confusion[("0", "0")] + confusion[("0", "unparsed")]
    print(
        f"\nRouterBench ARC-Challenge, rule {rule.name}: {total} graded cells, {missing} missing, "
        f"{no_gold} without a leave-one-out gold"
    )
    for (recorded, graded), count in sorted(confusion.items()):
        print(f"  recorded {recorded} / graded {graded:>8}: {count}")
    print(f"  agreement {agree / total:.4f} ({agree} of {total})")
    assert total == 15_921
    assert agree == expected
