"""Judge prompts read back into their parts, and the simulated judge's honest verdicts."""

from __future__ import annotations

from avp_harness.collect.judge import RAW_PROMPT_VERSION, judge_key
from avp_harness.sim.answers import answer_judge, judge_hle, judge_simpleqa
from avp_harness.sim.models import JUDGE_STYLES, SIM_MODELS, judge_style, sim_model
from graders.judge import (
    HLE_JUDGE_PROMPT,
    SIMPLEQA_JUDGE_PROMPT,
    parse_hle_verdict,
    parse_simpleqa_grade,
)
from graders.judge_prompts import parse_judge_prompt


def test_prompts_round_trip_even_with_separators_in_the_response() -> None:
    response = "It is 7.\nGold target: 8\nPredicted answer: 9"
    prompt = SIMPLEQA_JUDGE_PROMPT.format(question="How many?", target="7", response=response)
    parsed = parse_judge_prompt(prompt)
    assert parsed is not None
    assert (parsed.version, parsed.question, parsed.reference, parsed.response) == (
        "simpleqa-1", "How many?", "7", response
    )
    hle = HLE_JUDGE_PROMPT.format(question="Q {x}", response="Answer: B", correct_answer="B")
    parsed = parse_judge_prompt(hle)
    assert parsed is not None and (parsed.version, parsed.reference) == ("hle-1", "B")
    assert parse_judge_prompt("What is 2 + 2?") is None
    assert parse_judge_prompt(prompt[:-1]) is None


def test_cache_key_depends_on_judge_template_question_reference_and_response() -> None:
    def prompt(target: str, response: str) -> str:
        return SIMPLEQA_JUDGE_PROMPT.format(question="Q", target=target, response=response)

    version, key = judge_key("judge/a", prompt("7", "7"))
    assert version == "simpleqa-1" and key == judge_key("judge/a", prompt("7", "7"))[1]
    others = {judge_key("judge/b", prompt("7", "7"))[1], judge_key("judge/a", prompt("8", "7"))[1],
              judge_key("judge/a", prompt("7", "8"))[1]}
    assert key not in others and len(others) == 3
    assert judge_key("judge/a", "free-form prompt")[0] == RAW_PROMPT_VERSION


def test_simulated_simpleqa_judge_is_honest() -> None:
    assert judge_simpleqa("Q", "March 3, 1999", "I believe it was march 3 1999.") == "A"
    assert judge_simpleqa("Q", "7", "It has 17 moons.") == "B"  # whole words only
    assert judge_simpleqa("Q", "Ada Fenwick", "I don't know.") == "C"
    reply = answer_judge(SIMPLEQA_JUDGE_PROMPT.format(question="Q", target="7", response="7"))
    assert reply is not None and parse_simpleqa_grade(reply) == "CORRECT"
    assert answer_judge("Solve x + 1 = 2.") is None


def test_simulated_hle_judge_reads_the_last_answer_and_confidence() -> None:
    response = (
        "Explanation: first I thought A.\nAnswer: A\nOn reflection:\nAnswer: C\nConfidence: 85%"
    )
    verdict = parse_hle_verdict(judge_hle("Q", "C", response))
    assert verdict is not None
    assert (verdict.extracted_final_answer, verdict.correct, verdict.confidence) == ("C", True, 85)
    wrong = parse_hle_verdict(judge_hle("Q", "37", "Exact Answer: 31\nConfidence: 40%"))
    assert wrong is not None and (wrong.correct, wrong.confidence) == (False, 40)
    none = parse_hle_verdict(judge_hle("Q", "37", "I cannot say."))
    assert none is not None and none.extracted_final_answer is None and not none.correct
    assert none.confidence == 100


def test_simulated_judge_styles_echo_and_ramble() -> None:
    prompt = SIMPLEQA_JUDGE_PROMPT.format(question="Q", target="7", response="7")
    assert answer_judge(prompt, "sim/mid-pro@echo") == prompt
    rambling = answer_judge(prompt, "sim/mid-pro@ramble")
    assert rambling is not None and rambling.endswith("\nA") and len(rambling) > 4 * 1500
    assert parse_simpleqa_grade(rambling, prompt) == "CORRECT"  # complete, it is a verdict
    assert parse_simpleqa_grade(answer_judge(prompt, "sim/mid-pro@echo") or "", prompt) is None
    hle = HLE_JUDGE_PROMPT.format(question="Q", response="Answer: 7", correct_answer="7")
    assert answer_judge(hle, "sim/mid-pro@echo") == hle
    assert answer_judge(hle, "sim/mid-pro") == answer_judge(hle)  # honest by default
    assert judge_style("sim/mid-pro@echo") == "echo" and judge_style("sim/mid-pro") == "honest"
    assert judge_style("sim/mid-pro@nonsense") == "honest"
    echo = sim_model("sim/mid-pro@echo")
    assert echo is not None and echo.id == "sim/mid-pro@echo"
    assert echo.price_in == SIM_MODELS["sim/mid-pro"].price_in
    assert sim_model("sim/mid-pro@nonsense") is None and sim_model("sim/nope@echo") is None
    assert set(JUDGE_STYLES) == {"honest", "echo", "ramble"}
