"""The README's one-liners build the config of the equivalent avp.toml, fingerprints included."""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path

import pytest

from avp_harness.cli import build_parser
from avp_harness.cli.run_options import run_config
from avp_harness.collect.plan import config_hash
from avp_harness.config import config_from_dict


@pytest.fixture(autouse=True)
def _empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no avp.toml here
    for name in ("AVP_CONFIG", "AVP_BUDGET", "AVP_DB"):
        monkeypatch.delenv(name, raising=False)


def one_liner(command: str):  # type: ignore[no-untyped-def]
    args = build_parser().parse_args(shlex.split(command)[1:])
    return run_config(args)


def test_the_readme_one_liner_is_the_equivalent_avp_toml_entry() -> None:
    config = one_liner("avp run --model openrouter/qwen/qwen3-235b-a22b --benchmarks gpqa,aime "
                       "--limit 50")
    toml = config_from_dict(tomllib.loads(
        '[[models]]\nid = "qwen/qwen3-235b-a22b"\nprovider = "openrouter"\n\n'
        '[[benchmarks]]\nname = "gpqa_diamond"\nlimit = 50\n\n'
        '[[benchmarks]]\nname = "aime"\nlimit = 50\n'), None)
    assert config.models == toml.models and config.benchmarks == toml.benchmarks
    for model, twin in zip(config.models, toml.models, strict=True):
        for bench in ("gpqa_diamond", "aime"):
            assert config_hash(model, config.provider_for(model), bench, "1") == config_hash(
                twin, toml.provider_for(twin), bench, "1")


def test_the_readme_local_server_one_liner() -> None:
    config = one_liner("avp run --model vllm/Qwen/Qwen2.5-7B-Instruct --model-base-url "
                       "http://localhost:8000/v1 --benchmarks math500 --limit 10-20 "
                       "--max-tokens 4096 --max-connections 8")
    (model,) = config.models
    assert (model.id, model.model, model.provider, model.max_tokens) == (
        "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "vllm", 4096)
    provider = config.providers["vllm"]
    assert (provider.base_url, provider.max_concurrency, provider.api_key_env) == (
        "http://localhost:8000/v1", 8, None)
    (bench,) = config.benchmarks
    assert (bench.name, bench.offset, bench.limit) == ("math500", 9, 11)  # items 10 to 20


def test_a_one_liner_takes_avp_toml_s_entry_and_adds_to_its_benchmarks(tmp_path: Path) -> None:
    (tmp_path / "avp.toml").write_text(
        'budget = 2.0\n\n[[models]]\nid = "q"\nprovider = "openrouter"\n'
        'model = "qwen/qwen3-235b-a22b"\nprice = { input_per_m = 0.1, output_per_m = 0.6 }\n\n'
        '[[models]]\nid = "other"\nprovider = "openai"\n\n'
        '[[benchmarks]]\nname = "aime"\nsample = 5\nseed = 3\n')
    config = one_liner("avp run --model openrouter/qwen/qwen3-235b-a22b --benchmarks aime,math "
                       "--epochs 3 --timeout 30")
    (model,) = config.models
    assert model.id == "q" and model.price is not None and config.budget == 2.0
    assert [(b.name, b.sample, b.seed, b.samples) for b in config.benchmarks] == [
        ("aime", 5, 3, 3), ("math500", None, 0, 3)]
    assert config.providers["openrouter"].timeout_s == 30.0
    assert config.providers["openai"].timeout_s == 120.0  # not a provider of this run
