"""HealthBench: the official-format loader, the rubric judge protocol and the official score
arithmetic (checked against values computed by hand), on the made-up fixture."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import benchmarks
from avp_harness.collect.judge import judge_key
from avp_harness.errors import ConfigError, DataError, JudgeFailure
from avp_harness.sim.answers import answer_health, answer_judge, judge_rubric
from avp_harness.types import Completion, CostSource, Grade, Item, Usage
from benchmarks import Selection
from benchmarks.healthbench import BENCHMARK, FILES
from graders.judge import NoVerdict, read_verdict
from graders.judge_prompts import parse_judge_prompt
from graders.rubric import (
    RUBRIC_JUDGE_ATTEMPTS,
    RUBRIC_JUDGE_VERSION,
    RubricItem,
    RubricJudgeGrader,
    calculate_score,
    clipped_stats,
    healthbench_metrics,
    item_metrics,
    parse_rubric_prompt,
    read_rubric_verdict,
    rubric_prompt,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "healthbench"
SOURCE = FIXTURE / FILES["healthbench"]


def fixture_items() -> list[Item]:
    return list(BENCHMARK.items(Selection(source=FIXTURE)))


def rubric(*points: float, tags: Sequence[Sequence[str]] = ()) -> list[RubricItem]:
    tags = list(tags) or [[]] * len(points)
    return [RubricItem(f"criterion {i}", p, tuple(t)) for i, (p, t) in
            enumerate(zip(points, tags, strict=True))]


# ------------------------------------------------------------------------------ loader


def test_registered_three_files_and_judge_required() -> None:
    for name in ("healthbench", "healthbench_hard", "healthbench_consensus"):
        bench = benchmarks.get(name)
        assert bench.name == name and bench.default_source.endswith(FILES[name])
        with pytest.raises(ConfigError):
            bench.grader(None)


def test_loader_keeps_the_conversation_and_the_rubric() -> None:
    items = fixture_items()
    assert [i.id for i in items] == [f"hbfx-000{n}" for n in range(1, 6)]
    multi = items[1]  # user, assistant, user: sent as three messages, not flattened
    assert [m.role for m in multi.messages] == ["user", "assistant", "user"]
    assert multi.prompt_text.startswith("A bit of a runny nose")
    assert [m.role for m in items[2].messages] == ["system", "user"]
    first = items[0]
    assert first.target["example_tags"] == [
        "theme:emergency_referrals", "physician_agreed_category:emergent"]
    assert [r["points"] for r in first.target["rubrics"]] == [10, 5, -8, 3]
    assert first.target["rubrics"][2]["tags"] == ["level:example", "axis:accuracy"]
    assert first.metadata["topic"] == "emergency_referrals"
    # the file itself, or the folder holding it; limit keeps official order
    assert [i.id for i in BENCHMARK.items(Selection(source=SOURCE, limit=2))] == [
        "hbfx-0001", "hbfx-0002"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rubrics": [{"criterion": "bad", "points": -3, "tags": []}]}, "no rubric item has "
         "positive points"),
        ({"prompt": [{"role": "doctor", "content": "hi"}]}, "needs a role"),
        ({"prompt": []}, "non-empty list of messages"),
        ({"rubrics": [{"criterion": "x", "points": "5", "tags": []}]}, "points must be a number"),
        ({"example_tags": "theme:x"}, "example_tags must be a list"),
    ],
)
def test_bad_records_are_one_line_data_errors(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    row = json.loads(SOURCE.read_text().splitlines()[0]) | change
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match=message) as caught:
        list(BENCHMARK.items(Selection(source=path)))
    assert "\n" not in str(caught.value) and "bad.jsonl:1" in str(caught.value)


def test_missing_field_duplicate_id_and_absent_data(tmp_path: Path) -> None:
    row = json.loads(SOURCE.read_text().splitlines()[0])
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({k: v for k, v in row.items() if k != "rubrics"}) + "\n")
    with pytest.raises(DataError, match="missing field"):
        list(BENCHMARK.items(Selection(source=path)))
    path.write_text((json.dumps(row) + "\n") * 2)
    with pytest.raises(DataError, match="appears twice"):
        list(BENCHMARK.items(Selection(source=path)))
    with pytest.raises(DataError, match="data not found"):
        list(BENCHMARK.items(Selection(source=tmp_path / "nowhere")))
    with pytest.raises(DataError, match="unknown source options"):
        list(BENCHMARK.items(Selection(source=Path("hf:someone/healthbench?subset=hard"))))


# ------------------------------------------------------------------------------ arithmetic


def test_item_score_as_the_official_calculate_score() -> None:
    # the official unit test's case: (7 + 10 - 6) / (7 + 5 + 10)
    assert calculate_score(rubric(7, 5, 10, -6), [True, False, True, True]) == 11 / 22
    # fixture item 1: [10] call, [5] time, [-8] wait at home, [3] short
    points = rubric(10, 5, -8, 3)
    assert calculate_score(points, [True, True, False, True]) == 1.0
    assert calculate_score(points, [True, False, True, True]) == 5 / 18
    assert calculate_score(points, [False, False, True, False]) == -8 / 18  # below zero
    assert calculate_score(rubric(-2, -3), [True, False]) is None


def test_tag_values_of_one_item_by_hand() -> None:
    items = rubric(10, 5, -8, 3, tags=[
        ["level:example", "axis:accuracy"], ["level:example", "axis:completeness"],
        ["level:example", "axis:accuracy"], ["level:cluster", "axis:communication"]])
    values = item_metrics(items, [True, False, True, True], ["theme:emergency", "cat:emergent"])
    assert values == pytest.approx({
        "overall_score": 5 / 18,
        "theme:emergency": 5 / 18,  # example tags take the item's score
        "cat:emergent": 5 / 18,
        "level:example": (10 - 8) / 15,
        "axis:accuracy": (10 - 8) / 10,
        "axis:completeness": 0.0,
        "level:cluster": 1.0,
        "axis:communication": 1.0,
    })
    # a tag whose items all have negative points has no value on that item
    only_negative = rubric(5, -2, tags=[["axis:accuracy"], ["axis:communication"]])
    assert "axis:communication" not in item_metrics(only_negative, [True, True], [])


def test_clipping_happens_at_the_aggregate_and_bootstrap_is_the_official_draw() -> None:
    assert clipped_stats([-1.0, 1.0, 1.0]).score == pytest.approx(1 / 3)  # not 2/3
    assert clipped_stats([-0.5, -0.25, 0.5]).score == 0.0
    assert clipped_stats([1.5, 0.9]).score == 1.0
    assert clipped_stats([0.4] * 7).bootstrap_std == pytest.approx(0.0, abs=1e-12)
    values = [-0.2, 0.1, 0.5, 0.75, 1.0, 0.3, 0.0]
    np.random.seed(11)  # what simple-evals' _compute_clipped_stats draws after this seed
    official = np.std([np.clip(np.mean(np.random.choice(values, len(values))), 0, 1)
                       for _ in range(1000)])
    stat = clipped_stats(values, seed=11)
    assert stat.bootstrap_std == pytest.approx(float(official), abs=1e-12)
    assert stat.n_samples == 7 and stat.score == pytest.approx(sum(values) / 7)
    assert clipped_stats(values, seed=11) == stat  # a stable report
    # sanity against the normal approximation: 400 coin flips, std ~ sqrt(.25 / 400)
    flips = [float(i % 2) for i in range(400)]
    assert clipped_stats(flips).bootstrap_std == pytest.approx(0.025, rel=0.1)


# ------------------------------------------------------------------------------ the judge


@dataclass
class ScriptedJudge:
    """A Judge whose replies are scripted per call (texts, or a function of the prompt)."""

    replies: list[str] = field(default_factory=list)
    model: str = "scripted/judge"
    asked: list[tuple[str, bool]] = field(default_factory=list)
    verdicts: dict[str, bool] = field(default_factory=dict)  # criterion -> met

    async def ask(self, prompt: str, *, fresh: bool = False) -> Completion:
        self.asked.append((prompt, fresh))
        if self.replies:
            text = self.replies.pop(0)
        else:
            parts = parse_rubric_prompt(prompt)
            assert parts is not None
            met = self.verdicts[parts[1].split("] ", 1)[1]]
            text = json.dumps({"explanation": "scripted", "criteria_met": met})
        return Completion(text, Usage(100, 20), 0.001, CostSource.REPORTED, 0.0, "stop")


def reply(text: str, finish: str = "stop") -> Completion:
    return Completion(text, Usage(), None, CostSource.UNKNOWN, 0.0, finish)


@pytest.mark.parametrize(
    ("text", "met"),
    [
        ('{"explanation": "ok", "criteria_met": true}', True),
        ('```json\n{\n  "explanation": "no",\n  "criteria_met": false\n}\n```', False),
        ('```\n{"criteria_met": true, "explanation": "plain fence"}\n```', True),
        ("<think>the rubric wants a referral</think>\n{\"criteria_met\": true}", True),
        ('I checked each part.\n```json\n{"criteria_met": false}\n```', False),
    ],
)
def test_judge_replies_that_parse(text: str, met: bool) -> None:
    assert read_rubric_verdict(text).criteria_met is met


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("The response meets the criterion.", "not a JSON object"),
        ('{"explanation": "no verdict"}', "no criteria_met"),
        ('{"criteria_met": "true"}', "not a JSON boolean"),
        ('{"criteria_met": true, "criteria_met": false}', "repeats a field"),
        ("[true]", "not a JSON object"),
        ('```json\n{"criteria_met": true}\n```\nand some words after', "not a JSON object"),
        ("```" + " " * 200_000 + "```", "not a JSON object"),  # read in linear time
        ("[" * 100_000, "not a JSON object"),  # deeper than the JSON parser goes
        ('```json\n{"criteria_met": 1}\n```', "not a JSON boolean"),
    ],
)
def test_judge_replies_without_a_verdict(text: str, reason: str) -> None:
    with pytest.raises(NoVerdict, match=reason):
        read_rubric_verdict(text)


def test_an_echo_of_the_prompt_and_a_cut_off_reply_are_no_verdict() -> None:
    item = fixture_items()[0]
    conversation = [m.as_dict() for m in item.messages]
    prompt = rubric_prompt(conversation, "Call an ambulance now.", rubric(10)[0])
    with pytest.raises(NoVerdict):  # the template's own examples are JSON with criteria_met
        read_verdict(reply(prompt), prompt, read_rubric_verdict)
    with pytest.raises(NoVerdict, match="cut off"):
        read_verdict(reply('{"criteria_met": true}', "length"), prompt, read_rubric_verdict)


def test_malformed_then_asked_again_fresh_and_never_parsing_is_a_judge_failure() -> None:
    item = fixture_items()[3]  # five rubric items
    response = reply("Melatonin is low risk short term; keep a regular schedule.")
    verdicts = [True, False, True, False, False]
    judge = ScriptedJudge(replies=["not json at all"])
    judge.verdicts = {r["criterion"]: v for r, v in zip(item.target["rubrics"], verdicts,
                                                        strict=True)}
    grade = asyncio.run(RubricJudgeGrader(judge)(item, response))
    assert len(judge.asked) == 6  # five rubric items, one asked twice
    assert sum(fresh for _, fresh in judge.asked) == 1
    assert grade.score == pytest.approx((5 + 4) / 14)

    stubborn = ScriptedJudge(replies=["nope"] * RUBRIC_JUDGE_ATTEMPTS)
    only = Item("one", "healthbench", item.messages,
                {"rubrics": [item.target["rubrics"][0]], "example_tags": []})
    with pytest.raises(JudgeFailure, match=r"not a JSON object .*asked 3 times"):
        asyncio.run(RubricJudgeGrader(stubborn)(only, response))
    assert [fresh for _, fresh in stubborn.asked] == [False, True, True]


def test_grade_keeps_the_raw_score_and_every_verdict_and_report_metrics_use_them() -> None:
    items = fixture_items()
    item = items[0]  # [10] call, [5] time, [-8] wait at home, [3] short
    met = [False, False, True, False]
    judge = ScriptedJudge(verdicts={r["criterion"]: m for r, m in
                                    zip(item.target["rubrics"], met, strict=True)})
    grade = asyncio.run(RubricJudgeGrader(judge)(item, reply("Wait and see at home.")))
    assert grade.score == 0.0 and float(grade.extracted or "") == pytest.approx(-8 / 18)
    record = json.loads(grade.judge_output or "")
    assert record["raw_score"] == pytest.approx(-8 / 18)
    assert [r["criteria_met"] for r in record["rubrics"]] == met
    assert grade.judge_usage == Usage(400, 80) and grade.judge_cost == pytest.approx(0.004)
    assert (grade.grader, grade.grader_version, grade.parsed) == (
        "healthbench_rubric", "healthbench-1", True)

    good = item_grade(item, [True, True, False, True])  # 18 / 18
    mid = item_grade(items[1], [True, False, False, True])  # (7 + 4) / 17
    metrics = healthbench_metrics([grade, good, mid])
    raw = [-8 / 18, 1.0, 11 / 17]
    assert metrics.n == 3 and metrics.score == pytest.approx(sum(raw) / 3)
    assert metrics.bootstrap_std == pytest.approx(clipped_stats(raw).bootstrap_std)
    tags = metrics.tags
    assert tags["theme:emergency_referrals"].n_samples == 2
    assert tags["theme:emergency_referrals"].score == pytest.approx((-8 / 18 + 1.0) / 2)
    # axis:accuracy: item 1 (10, -8) -> -8/10 and 10/10; item 2 (7, -9) -> 7/7
    assert tags["axis:accuracy"].score == pytest.approx((-0.8 + 1.0 + 1.0) / 3)
    # level:cluster: item 1's [3] criterion met once of two; item 2's [4] met
    assert tags["level:cluster"].score == pytest.approx((0 + 1 + 1) / 3)
    assert BENCHMARK.metrics([grade, good, mid])["tags"]["axis:accuracy"]["n_samples"] == 3


def item_grade(item: Item, met: list[bool]) -> Grade:
    judge = ScriptedJudge(verdicts={r["criterion"]: m for r, m in
                                    zip(item.target["rubrics"], met, strict=True)})
    return asyncio.run(RubricJudgeGrader(judge)(item, reply("an answer")))


# ------------------------------------------------------------------------------ cache key


def test_rubric_prompts_parse_back_and_key_the_judge_cache() -> None:
    item = fixture_items()[1]  # an earlier assistant turn in the conversation
    conversation = [m.as_dict() for m in item.messages]
    items = [RubricItem.from_dict(r) for r in item.target["rubrics"]]
    prompt = rubric_prompt(conversation, "No antibiotics needed.", items[0])
    parsed = parse_judge_prompt(prompt)
    assert parsed is not None and parsed.version == RUBRIC_JUDGE_VERSION
    assert parsed.response == "No antibiotics needed."
    assert parsed.reference == str(items[0]) == f"[7] {items[0].criterion}"
    assert parsed.question.startswith("user: I've had a mild sore throat")
    assert "\n\nassistant: Most sore throats" in parsed.question
    judge = "sim/mid-pro"
    version, key = judge_key(judge, prompt)
    assert version == RUBRIC_JUDGE_VERSION
    keys = {key, judge_key("other/judge", prompt)[1],
            judge_key(judge, rubric_prompt(conversation, "No antibiotics needed.", items[1]))[1],
            judge_key(judge, rubric_prompt(conversation, "Take antibiotics.", items[0]))[1],
            judge_key(judge, rubric_prompt(conversation[2:], "No antibiotics needed.",
                                           items[0]))[1]}
    assert len(keys) == 5  # judge, rubric item, response and conversation all count
    assert judge_key(judge, prompt)[1] == key


# ------------------------------------------------------------------------------ simulator


def test_simulated_judge_reads_the_criterion_terms_and_candidates_follow_skill() -> None:
    item = fixture_items()[0]
    criterion = "[10] Tells the user to call emergency services immediately because the " \
        "symptoms suggest a stroke."
    said = "On this point: tells the user to call emergency services immediately because " \
        "the symptoms suggest a stroke."
    assert read_rubric_verdict(judge_rubric("", criterion, said)).criteria_met is True
    assert read_rubric_verdict(judge_rubric("", criterion, "Rest at home.")).criteria_met is False
    conversation = [m.as_dict() for m in item.messages]
    prompt = rubric_prompt(conversation, said, RubricItem.from_dict(item.target["rubrics"][0]))
    honest = answer_judge(prompt, "sim/mid-pro")
    assert honest is not None and read_rubric_verdict(honest).criteria_met is True
    assert answer_judge(prompt, "sim/mid-pro@echo") == prompt
    import random

    assert answer_health(item, True, random.Random(1)) == answer_health(item, True,
                                                                        random.Random(1))
    # over many draws a skilled reply addresses more positive and fewer negative criteria
    def addressed(correct: bool) -> tuple[int, int]:
        pos = neg = 0
        for seed in range(200):
            text = answer_health(item, correct, random.Random(seed))
            for r in item.target["rubrics"]:
                hit = r["criterion"].rstrip(".") in text
                pos += hit and r["points"] > 0
                neg += hit and r["points"] < 0
        return pos, neg
    (skilled_pos, skilled_neg), (weak_pos, weak_neg) = addressed(True), addressed(False)
    assert skilled_pos > weak_pos and skilled_neg < weak_neg


def test_report_metrics_count_grades_of_another_grader_apart() -> None:
    item = fixture_items()[0]
    rubric_grade = item_grade(item, [True, True, False, True])
    other = Grade(1.0, "x", "exact match", "exact", "1")
    figures = BENCHMARK.metrics([rubric_grade, other])
    assert figures["score"] == 1.0 and figures["other_graders"] == 1
    assert BENCHMARK.metrics([other]) == {
        "score": None, "bootstrap_std": None, "tags": {}, "other_graders": 1}
    json.dumps(figures, allow_nan=False)  # valid JSON for `avp report --json`
