"""avp.toml loading, validation (file, dotted key, reason), the template and add_model."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import textwrap
from pathlib import Path

import pytest

from avp_harness import config as cfg
from avp_harness.config import (
    BenchmarkConfig,
    Config,
    ModelConfig,
    Price,
    ProviderConfig,
    add_model,
    config_from_dict,
    load_config,
    model_toml,
    template,
)
from avp_harness.errors import ConfigError
from avp_harness.types import Usage

BASE = """\
budget = 10.0

[providers.local]
base_url = "http://127.0.0.1:8000/v1"

[[models]]
id = "a"
provider = "local"

[[models]]
id = "b"
provider = "openrouter"
price = { input_per_m = 1.0, output_per_m = 2.0 }

[[benchmarks]]
name = "arc_agi"
limit = 5

[[benchmarks]]
name = "humaneval"

[judge]
id = "j"
provider = "openrouter"

[embedding]
backend = "tfidf"
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AVP_CONFIG", "AVP_BUDGET", "AVP_TEST_KEY"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str, name: str = "avp.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.file == str(path)
    return info.value


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def test_base_config_loads_with_defaults_and_builtins(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE))
    assert [m.id for m in config.models] == ["a", "b"]
    assert config.models[0] == ModelConfig(id="a", provider="local", model="a")
    assert config.models[1].price == Price(1.0, 2.0)
    assert [b.name for b in config.benchmarks] == ["arc_agi", "humaneval"]
    assert config.benchmarks[0].limit == 5 and config.benchmarks[1].samples == 1
    assert config.budget == 10.0
    assert config.judge is not None and config.judge.temperature == 0.0
    assert config.embedding == cfg.EmbeddingConfig(backend="tfidf")
    assert config.db == str(tmp_path / "runs.db")
    assert config.path == tmp_path / "avp.toml"
    local = config.providers["local"]
    # a server on this machine defaults to a few requests in flight, not 16
    assert local == ProviderConfig(name="local", base_url="http://127.0.0.1:8000/v1",
                                   max_concurrency=cfg.LOCAL_MAX_CONCURRENCY)
    assert config.provider_for(config.models[0]) is local


def test_builtin_providers_exist_and_match_the_brief(tmp_path: Path) -> None:
    providers = load_config(write(tmp_path, "")).providers
    openrouter, openai = providers["openrouter"], providers["openai"]
    assert openrouter.base_url == "https://openrouter.ai/api/v1"
    assert openrouter.api_key_env == "OPENROUTER_API_KEY"
    assert (openrouter.request_cost, openrouter.max_concurrency, openrouter.rpm) == (True, 32, None)
    assert openai.base_url == "https://api.openai.com/v1"
    assert openai.api_key_env == "OPENAI_API_KEY"
    assert openai.request_cost is False


def test_a_builtin_provider_table_overlays_its_defaults(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """\
            [providers.openrouter]
            max_concurrency = 8
            rpm = 100
            headers = { "X-Title" = "avp" }
            """,
        )
    )
    openrouter = config.providers["openrouter"]
    assert openrouter.max_concurrency == 8 and openrouter.rpm == 100
    assert openrouter.base_url == "https://openrouter.ai/api/v1"
    assert openrouter.request_cost is True
    assert openrouter.headers == {"X-Title": "avp"}


def test_every_provider_field_is_read(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """\
            [providers.local]
            base_url = "http://localhost:8080/v1/"
            api_key_env = "LOCAL_KEY"
            max_concurrency = 4
            rpm = 60
            tpm = 100000
            timeout_s = 30
            max_attempts = 2
            request_cost = true
            headers = { X-Test = "1" }
            """,
        )
    )
    assert config.providers["local"] == ProviderConfig(
        name="local",
        base_url="http://localhost:8080/v1",
        api_key_env="LOCAL_KEY",
        max_concurrency=4,
        rpm=60,
        tpm=100000,
        timeout_s=30.0,
        max_attempts=2,
        request_cost=True,
        headers={"X-Test": "1"},
    )


def test_every_model_field_is_read_and_a_toml_date_is_accepted(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """\
            [[models]]
            id = "openai/gpt-5"
            provider = "openai"
            model = "gpt-5"
            temperature = 1
            max_tokens = 100
            reasoning_effort = "high"
            extra_body = { verbosity = "low" }
            [models.price]
            input_per_m = 1.25
            output_per_m = 10
            cached_input_per_m = 0.125
            date = 2025-08-07
            """,
        )
    )
    assert config.model("openai/gpt-5") == ModelConfig(
        id="openai/gpt-5",
        provider="openai",
        model="gpt-5",
        temperature=1.0,
        max_tokens=100,
        reasoning_effort="high",
        extra_body={"verbosity": "low"},
        price=Price(1.25, 10.0, 0.125, "2025-08-07"),
    )


def test_config_path_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cwd").mkdir()
    write(tmp_path / "cwd", "budget = 1.0\n")
    write(tmp_path, "budget = 2.0\n", "env.toml")
    write(tmp_path, "budget = 3.0\n", "explicit.toml")
    monkeypatch.chdir(tmp_path / "cwd")
    assert load_config().budget == 1.0
    monkeypatch.setenv("AVP_CONFIG", str(tmp_path / "env.toml"))
    assert load_config().budget == 2.0
    assert load_config(tmp_path / "explicit.toml").budget == 3.0
    assert load_config(str(tmp_path / "explicit.toml")).budget == 3.0


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert info.value.file == str(tmp_path / "nope.toml")
    assert info.value.key == ""
    assert "not found" in info.value.reason and "avp init" in info.value.reason


def test_a_folder_or_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"db = '\xe9'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


def test_avp_budget_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "budget = 10.0\n")
    monkeypatch.setenv("AVP_BUDGET", "2.5")
    assert load_config(path).budget == 2.5
    assert config_from_dict({"budget": 1.0}, None, env={"AVP_BUDGET": "0"}).budget == 0.0
    assert config_from_dict({"budget": 1.0}, None, env={"AVP_BUDGET": ""}).budget == 1.0


@pytest.mark.parametrize("value", ["lots", "-1", "nan"])
def test_bad_avp_budget(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({}, None, env={"AVP_BUDGET": value})
    assert (info.value.file, info.value.key) == ("environment", "AVP_BUDGET")
    assert value in info.value.reason


def test_relative_paths_are_anchored_at_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        db = "data/runs.db"
        [[benchmarks]]
        name = "arc_agi"
        source = "tasks/arc.json"
        [[benchmarks]]
        name = "humaneval"
        source = "/abs/HumanEval.jsonl"
        """,
    )
    config = load_config(path)
    assert config.db == str(tmp_path / "data" / "runs.db")
    assert config.benchmarks[0].source == str(tmp_path / "tasks" / "arc.json")
    assert config.benchmarks[1].source == "/abs/HumanEval.jsonl"
    url = load_config(write(tmp_path, 'db = "postgresql://u@h/avp"\n', "url.toml"))
    assert url.db == "postgresql://u@h/avp"
    memory = load_config(write(tmp_path, 'db = ":memory:"\n', "memory.toml"))
    assert memory.db == ":memory:"
    home = load_config(write(tmp_path, 'db = "~/avp/runs.db"\n', "home.toml"))
    assert home.db == str(Path.home() / "avp" / "runs.db")


def test_config_from_dict_without_a_file_keeps_paths_and_names_config_in_errors() -> None:
    config = config_from_dict({"db": "x.db", "models": [{"id": "m", "provider": "openai"}]})
    assert config.path is None and config.db == "x.db"
    with pytest.raises(ConfigError) as info:
        config_from_dict({"models": [{"id": "m"}]})
    assert (info.value.file, info.value.key, info.value.reason) == (
        "<config>",
        "models[0].provider",
        "required",
    )


def test_none_in_a_dict_built_in_code_means_not_set() -> None:
    config = config_from_dict(
        {
            "budget": None,
            "models": [
                {
                    "id": "m",
                    "provider": "openai",
                    "max_tokens": None,
                    "price": {"input_per_m": 1, "output_per_m": 2, "cached_input_per_m": None},
                }
            ],
        },
        env={},
    )
    assert config.budget is None
    assert config.models[0] == ModelConfig(id="m", provider="openai", price=Price(1.0, 2.0))


# --------------------------------------------------------------------------------------------
# Validation: every case names the file, the dotted key and the reason
# --------------------------------------------------------------------------------------------

INVALID = [
    # unknown keys, at every level
    ("dbb = 'x'", "dbb", "unknown key; expected one of: db, budget"),
    (
        "[providers.local]\nbase_url = 'http://h/v1'\nrpmm = 3",
        "providers.local.rpmm",
        "unknown key",
    ),
    (
        "[providers.local]\nbase_url = 'http://h/v1'\napi_key = 'k'",
        "providers.local.api_key",
        "API keys never go in avp.toml",
    ),
    ("[[models]]\nid = 'a'\nprovider = 'openai'\ntemp = 1", "models[0].temp", "unknown key"),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\nprice = { input = 1, output_per_m = 2 }",
        "models[0].price.input",
        "unknown key",
    ),
    ("[[benchmarks]]\nname = 'arc_agi'\nlimt = 3", "benchmarks[0].limt", "unknown key"),
    ("[judge]\nid = 'j'\nprovider = 'openai'\nmode = 'x'", "judge.mode", "unknown key"),
    ("[embedding]\ndim = 3", "embedding.dim", "unknown key"),
    # wrong types
    ("budget = 'ten'", "budget", "must be a number, got a string"),
    ("db = 3", "db", "must be a string, got an integer"),
    ("providers = 3", "providers", "must be a table, got an integer"),
    ("models = 'x'", "models", "must be an array of tables ([[models]]), got a string"),
    ("models = ['x']", "models[0]", "must be a table, got a string"),
    (
        "[providers.local]\nbase_url = 'http://h/v1'\nmax_concurrency = '8'",
        "providers.local.max_concurrency",
        "must be an integer, got a string",
    ),
    (
        "[providers.local]\nbase_url = 'http://h/v1'\nrpm = true",
        "providers.local.rpm",
        "must be an integer, got a boolean",
    ),
    (
        "[providers.local]\nbase_url = 'http://h/v1'\nrequest_cost = 1",
        "providers.local.request_cost",
        "must be true or false, got an integer",
    ),
    (
        "[providers.local]\nbase_url = 'http://h/v1'\nheaders = { X-Title = 1 }",
        "providers.local.headers.X-Title",
        "must be a string, got an integer",
    ),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\nmax_tokens = 1.5",
        "models[0].max_tokens",
        "must be an integer, got a float",
    ),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\nextra_body = 3",
        "models[0].extra_body",
        "must be a table, got an integer",
    ),
    (
        "[[benchmarks]]\nname = 'arc_agi'\nseed = '1'",
        "benchmarks[0].seed",
        "must be an integer, got a string",
    ),
    ("[embedding]\nmax_chars = 'all'", "embedding.max_chars", "must be an integer, got a string"),
    # missing required keys
    ("[providers.local]\nmax_concurrency = 2", "providers.local.base_url", "required"),
    ("[[models]]\nprovider = 'openai'", "models[0].id", "required"),
    ("[[benchmarks]]\nlimit = 3", "benchmarks[0].name", "required"),
    # bad values
    ("budget = -1.0", "budget", "must be >= 0, got -1"),
    ("db = ''", "db", "must not be empty"),
    (
        "[providers.local]\nbase_url = 'http://h/v1'\nmax_concurrency = 0",
        "providers.local.max_concurrency",
        "must be >= 1, got 0",
    ),
    (
        "[providers.local]\nbase_url = 'http://h/v1'\nmax_concurrency = -4",
        "providers.local.max_concurrency",
        "must be >= 1, got -4",
    ),
    (
        "[providers.local]\nbase_url = 'http://h/v1'\nrpm = 0",
        "providers.local.rpm",
        "must be >= 1, got 0",
    ),
    (
        "[providers.local]\nbase_url = 'http://h/v1'\ntpm = -5",
        "providers.local.tpm",
        "must be >= 1, got -5",
    ),
    (
        "[providers.local]\nbase_url = 'http://h/v1'\ntimeout_s = 0",
        "providers.local.timeout_s",
        "must be > 0, got 0",
    ),
    (
        "[providers.local]\nbase_url = 'http://h/v1'\nmax_attempts = 0",
        "providers.local.max_attempts",
        "must be >= 1, got 0",
    ),
    (
        "[providers.local]\nbase_url = 'localhost:8000/v1'",
        "providers.local.base_url",
        "must be an http(s) URL, got 'localhost:8000/v1'",
    ),
    (
        "[providers.local]\nbase_url = 'ftp://h/v1'",
        "providers.local.base_url",
        "must be an http(s) URL",
    ),
    (
        "[providers.local]\nbase_url = 'http://'",
        "providers.local.base_url",
        "must be an http(s) URL",
    ),
    (
        '[providers."my local"]\nbase_url = "http://h/v1"\nrpm = 0',
        'providers."my local".rpm',
        "must be >= 1",
    ),
    (
        "[providers.local]\nbase_url = 'http://h/v1'\napi_key_env = 'sk-or-v1-abc'",
        "providers.local.api_key_env",
        "must be the NAME of an environment variable",
    ),
    (
        "[[models]]\nid = 'a'\nprovider = 'nowhere'",
        "models[0].provider",
        "unknown provider 'nowhere' (known: openai, openrouter)",
    ),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\n[[models]]\nid = 'a'\nprovider = 'openrouter'",
        "models[1].id",
        "duplicate model id 'a' (also models[0])",
    ),
    ("[[models]]\nid = ' a'\nprovider = 'openai'", "models[0].id", "non-empty label"),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\ntemperature = 2.5",
        "models[0].temperature",
        "must be between 0 and 2, got 2.5",
    ),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\ntemperature = -0.1",
        "models[0].temperature",
        "must be between 0 and 2, got -0.1",
    ),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\nreasoning_effort = 'extreme'",
        "models[0].reasoning_effort",
        "must be one of none, minimal, low, medium, high, xhigh",
    ),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\nmax_tokens = 0",
        "models[0].max_tokens",
        "must be >= 1, got 0",
    ),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\nextra_body = { messages = [] }",
        "models[0].extra_body.messages",
        "set by the harness",
    ),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\n[[models]]\nid = 'b'\nprovider = 'openai'\n"
        "[[models]]\nid = 'c'\nprovider = 'openai'\nprice = { input_per_m = -1, output_per_m = 2 }",
        "models[2].price.input_per_m",
        "must be >= 0, got -1",
    ),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\nprice = { input_per_m = 1, output_per_m = -2 }",
        "models[0].price.output_per_m",
        "must be >= 0, got -2",
    ),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\n"
        "price = { input_per_m = 1, output_per_m = 2, cached_input_per_m = -0.5 }",
        "models[0].price.cached_input_per_m",
        "must be >= 0, got -0.5",
    ),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\n"
        "price = { input_per_m = nan, output_per_m = 2 }",
        "models[0].price.input_per_m",
        "must be a finite number",
    ),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\nprice = { output_per_m = 2 }",
        "models[0].price.input_per_m",
        "required",
    ),
    (
        "[[models]]\nid = 'a'\nprovider = 'openai'\n"
        "price = { input_per_m = 1, output_per_m = 2, date = 'last week' }",
        "models[0].price.date",
        "must be an ISO date YYYY-MM-DD, got 'last week'",
    ),
    ("[[benchmarks]]\nname = 'arc_agi'\nlimit = -1", "benchmarks[0].limit", "must be >= 0, got -1"),
    (
        "[[benchmarks]]\nname = 'arc_agi'\nsample = -3",
        "benchmarks[0].sample",
        "must be >= 0, got -3",
    ),
    (
        "[[benchmarks]]\nname = 'arc_agi'\nsamples = 0",
        "benchmarks[0].samples",
        "must be >= 1, got 0",
    ),
    (
        "[[benchmarks]]\nname = 'arc_agi'\n[[benchmarks]]\nname = 'nope'",
        "benchmarks[1].name",
        "unknown benchmark 'nope' (known: ",
    ),
    (
        "[[benchmarks]]\nname = 'arc_agi'\nlimit = 3\nsample = 3",
        "benchmarks[0].sample",
        "set either limit or sample, not both",
    ),
    (
        "[[benchmarks]]\nname = 'arc_agi'\n[[benchmarks]]\nname = 'arc_agi'",
        "benchmarks[1].name",
        "benchmark 'arc_agi' is listed twice (also benchmarks[0])",
    ),
    ("[[benchmarks]]\nname = 'arc_agi'\nsource = ''", "benchmarks[0].source", "must not be empty"),
    (
        "[judge]\nid = 'j'\nprovider = 'openai'\ntemperature = 0.7",
        "judge.temperature",
        "the judge is pinned at temperature 0",
    ),
    ("[judge]\nid = 'j'\nprovider = 'gone'", "judge.provider", "unknown provider 'gone'"),
    (
        "[judge]\nid = 'j'\nprovider = 'openai'\nreasoning_effort = 'max'",
        "judge.reasoning_effort",
        "must be one of",
    ),
    ("judge = 'gpt'", "judge", "must be a table, got a string"),
    (
        "[embedding]\nbackend = 'bert'",
        "embedding.backend",
        "must be one of local, tfidf, api, got 'bert'",
    ),
    ("[embedding]\nbackend = 'api'", "embedding.provider", 'required when backend = "api"'),
    (
        "[embedding]\nbackend = 'api'\nprovider = 'gone'",
        "embedding.provider",
        "unknown provider 'gone'",
    ),
    ("[embedding]\nmax_chars = 0", "embedding.max_chars", "must be >= 1, got 0"),
]


@pytest.mark.parametrize(("text", "key", "reason"), INVALID, ids=[case[1] for case in INVALID])
def test_invalid_config_names_file_key_and_reason(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    error = load_error(tmp_path, text + "\n")
    assert error.key == key
    assert reason in error.reason
    assert str(error) == f"{tmp_path / 'avp.toml'}: {key}: {error.reason}"


def test_a_pasted_api_key_is_never_echoed(tmp_path: Path) -> None:
    secret = "sk-or-v1-0123456789abcdef"
    error = load_error(
        tmp_path, f"[providers.local]\nbase_url = 'http://h/v1'\napi_key_env = '{secret}'\n"
    )
    assert secret not in str(error)


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("budget = 1.0\nmodels = [\n", "end of document", "invalid TOML: "),
        ("db = 'x'\n[[models]\n", "line 2, column 9", "invalid TOML: "),
        ("db = 'x'\ndb = 'y'\n", "line 2, column 9", "invalid TOML: Cannot overwrite a value"),
    ],
    ids=["unclosed-array", "bad-header", "duplicate-key"],
)
def test_toml_syntax_errors_carry_line_and_column(
    tmp_path: Path, text: str, where: str, reason: str
) -> None:
    error = load_error(tmp_path, text)
    assert error.key == where
    assert error.reason.startswith(reason) and "(at" not in error.reason


# --------------------------------------------------------------------------------------------
# Behaviour of the shapes
# --------------------------------------------------------------------------------------------


def test_price_cost_bills_cached_input_and_counts_reasoning_once() -> None:
    usage = Usage(
        prompt_tokens=1000, completion_tokens=500, reasoning_tokens=300, cached_tokens=400
    )
    with_cache = Price(input_per_m=2.0, output_per_m=10.0, cached_input_per_m=0.5)
    # (600 * 2 + 400 * 0.5 + 500 * 10) / 1e6: reasoning is inside completion_tokens already
    assert with_cache.cost(usage) == pytest.approx(0.0064)
    no_cache_rate = Price(input_per_m=2.0, output_per_m=10.0)
    assert no_cache_rate.cost(usage) == pytest.approx((1000 * 2 + 500 * 10) / 1e6)
    assert Price(0.0, 0.0).cost(usage) == 0.0
    assert with_cache.cost(Usage()) == 0.0


def test_price_version_is_the_date() -> None:
    assert Price(1, 2, date="2026-11-01").version == "2026-11-01"
    assert Price(1, 2).version == "unversioned"


def test_api_key_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = ProviderConfig(name="lab", base_url="http://h/v1", api_key_env="AVP_TEST_KEY")
    with pytest.raises(ConfigError) as info:
        provider.api_key()
    assert "AVP_TEST_KEY" in str(info.value) and "'lab'" in str(info.value)
    assert info.value.key == "AVP_TEST_KEY"
    monkeypatch.setenv("AVP_TEST_KEY", "  ")
    with pytest.raises(ConfigError, match="AVP_TEST_KEY"):
        provider.api_key()
    monkeypatch.setenv("AVP_TEST_KEY", "secret-1")
    assert provider.api_key() == "secret-1"
    monkeypatch.setenv("AVP_TEST_KEY", "secret-2")
    assert provider.api_key() == "secret-2"
    assert ProviderConfig(name="local", base_url="http://h/v1").api_key() is None
    assert provider.connection_key() == "lab"


def test_model_defaults_and_hashing() -> None:
    model = ModelConfig(id="x/y", provider="openrouter")
    assert model.model == "x/y"
    assert ModelConfig(id="x/y", provider="p", model="y").model == "y"
    with_body = ModelConfig(id="x/y", provider="p", extra_body={"a": {"b": 1}})
    assert len({model, with_body}) == 2  # mapping fields are left out of the hash
    assert with_body.generation_params() == {
        "model": "x/y",
        "temperature": 0.0,
        "max_tokens": None,
        "reasoning_effort": None,
        "extra_body": {"a": {"b": 1}},
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.temperature = 1.0  # type: ignore[misc]


def test_benchmark_selection() -> None:
    from benchmarks import Selection

    entry = BenchmarkConfig(name="arc_agi", source="/data/arc.json", sample=10, seed=7)
    assert entry.selection() == Selection(sample=10, seed=7, source=Path("/data/arc.json"))
    assert BenchmarkConfig(name="humaneval", limit=3).selection() == Selection(limit=3)


def test_config_lookups_raise_config_errors() -> None:
    config = Config(models=(ModelConfig(id="m", provider="openai"),))
    assert config.model("m").provider == "openai"
    with pytest.raises(ConfigError, match=r"no model with id 'z' \(known: m\)"):
        config.model("z")
    with pytest.raises(ConfigError, match="unknown provider 'gone'"):
        config.provider_for(ModelConfig(id="q", provider="gone"))


# --------------------------------------------------------------------------------------------
# The template
# --------------------------------------------------------------------------------------------


def test_template_loads_and_holds_the_promised_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, template()))
    assert len(config.models) == 3
    assert all(m.provider == "openrouter" and m.price and m.price.date for m in config.models)
    assert [(b.name, b.limit) for b in config.benchmarks] == [("arc_agi", 50), ("humaneval", None)]
    assert config.judge is not None and config.judge.temperature == 0.0
    assert config.budget is not None and config.embedding.backend == "local"
    assert config.providers["openrouter"] == cfg.builtin_providers()["openrouter"]


def test_template_comments_every_field_and_holds_no_keys() -> None:
    text = template()
    for name in (
        *cfg.TOP_LEVEL_KEYS,
        *cfg.PROVIDER_KEYS,
        *cfg.MODEL_KEYS,
        *cfg.PRICE_KEYS,
        *cfg.BENCHMARK_KEYS,
        *cfg.EMBEDDING_KEYS,
    ):
        assert re.search(rf"\b{name}\b", text), name
    for url in (
        "http://localhost:8000/v1",
        "http://localhost:8080/v1",
        "http://localhost:11434/v1",
    ):
        assert url in text
    assert not re.search(r"sk-[A-Za-z0-9]", text)
    assert all(len(line) <= 100 for line in text.splitlines())


def test_template_commented_examples_are_valid_when_uncommented(tmp_path: Path) -> None:
    uncommented = re.sub(r"(?m)^# (?=\[|[a-z_]+ = )", "", template())
    config = load_config(write(tmp_path, uncommented))
    assert {"vllm", "llamacpp", "ollama"} <= set(config.providers)
    assert config.providers["ollama"].base_url == "http://localhost:11434/v1"
    assert config.model("local/qwen2.5-7b-instruct").provider == "vllm"
    assert config.providers["openrouter"].headers["X-Title"] == "avp-harness"
    assert config.model("deepseek/deepseek-chat-v3.1").extra_body["provider"]


# --------------------------------------------------------------------------------------------
# add_model
# --------------------------------------------------------------------------------------------


def test_add_model_appends_and_keeps_text_and_comments(tmp_path: Path) -> None:
    path = write(tmp_path, template())
    original = path.read_text(encoding="utf-8")
    new = ModelConfig(
        id="anthropic/claude-sonnet-4.5",
        provider="openrouter",
        temperature=0.3,
        max_tokens=4096,
        reasoning_effort="medium",
        price=Price(3.0, 15.0, 0.3, "2025-10-01"),
    )
    add_model(path, new)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(original)
    config = load_config(path)
    assert config.models[-1] == new
    assert [m.id for m in config.models[:3]] == [m.id for m in load_config_text(original).models]
    assert [p.name for p in tmp_path.iterdir()] == ["avp.toml"]


def load_config_text(text: str) -> Config:
    import tomllib

    return config_from_dict(tomllib.loads(text))


def test_add_model_escapes_strings_and_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "# my lab config\n[providers.local]\nbase_url = 'http://h/v1'")
    tricky = ModelConfig(
        id='lab/"quoted" \\ back\tslash é',
        provider="local",
        model="line1\nline2\x01\x7f",
        extra_body={
            "odd key.with dots": {"nested": [1, 2.5, True, 'x"y']},
            "plain": "ünïcode ✓",
            "empty": {},
            "big": 1e-7,
        },
    )
    add_model(path, tricky)
    assert load_config(path).model(tricky.id) == tricky
    assert path.read_text(encoding="utf-8").startswith("# my lab config\n")


def test_add_model_rejects_duplicates_and_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    before = path.read_bytes()
    with pytest.raises(ConfigError) as info:
        add_model(path, ModelConfig(id="a", provider="openai"))
    assert (info.value.file, info.value.key) == (str(path), "models")
    assert "'a' already exists" in info.value.reason
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("model", "key", "reason"),
    [
        (ModelConfig(id="c", provider="gone"), "models[2].provider", "unknown provider 'gone'"),
        (
            ModelConfig(id="c", provider="openai", temperature=3.0),
            "models[2].temperature",
            "between 0 and 2",
        ),
        (
            ModelConfig(id="c", provider="openai", price=Price(-1.0, 1.0)),
            "models[2].price.input_per_m",
            ">= 0",
        ),
        (
            ModelConfig(id="c", provider="openai", extra_body={"x": None}),
            "models[2].extra_body.x",
            "null cannot be written to TOML",
        ),
    ],
)
def test_add_model_is_atomic_on_invalid_models(
    tmp_path: Path, model: ModelConfig, key: str, reason: str
) -> None:
    path = write(tmp_path, BASE)
    before = path.read_bytes()
    with pytest.raises(ConfigError) as info:
        add_model(path, model)
    assert info.value.key == key and reason in info.value.reason
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["avp.toml"]


def test_add_model_names_the_original_file_when_the_result_does_not_parse(tmp_path: Path) -> None:
    path = write(tmp_path, "models = [{ id = 'a', provider = 'openai' }]\n")
    before = path.read_bytes()
    with pytest.raises(ConfigError) as info:
        add_model(path, ModelConfig(id="b", provider="openai"))
    assert info.value.file == str(path) and "invalid TOML" in info.value.reason
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["avp.toml"]


def test_add_model_keeps_the_file_mode_and_handles_no_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "avp.toml"
    path.write_text("budget = 1.0", encoding="utf-8")
    os.chmod(path, 0o640)
    add_model(path, ModelConfig(id="m", provider="openai"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_text(encoding="utf-8") == (
        'budget = 1.0\n\n[[models]]\nid = "m"\nprovider = "openai"\n'
    )


def test_add_model_to_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        add_model(tmp_path / "avp.toml", ModelConfig(id="m", provider="openai"))
    assert not (tmp_path / "avp.toml").exists()


def test_model_toml_lists_only_what_differs_from_defaults() -> None:
    assert model_toml(ModelConfig(id="m", provider="openai")) == (
        '[[models]]\nid = "m"\nprovider = "openai"\n'
    )
    full = model_toml(
        ModelConfig(
            id="m", provider="openai", model="gpt", price=Price(1.0, 2.0, date="2025-01-02")
        )
    )
    assert 'model = "gpt"' in full
    assert 'price = { input_per_m = 1.0, output_per_m = 2.0, date = "2025-01-02" }' in full


def test_local_servers_default_to_few_requests_in_flight() -> None:
    def provider(**entry: object) -> ProviderConfig:
        data = {"providers": {"p": entry}, "models": [{"id": "m", "provider": "p"}],
                "benchmarks": [{"name": "arc_agi"}]}
        return cfg.config_from_dict(data, None).providers["p"]

    for url in ("http://localhost:8080/v1", "http://127.0.0.1:8080/v1", "http://[::1]:8080/v1"):
        assert provider(base_url=url).max_concurrency == cfg.LOCAL_MAX_CONCURRENCY
    assert provider(base_url="https://api.example.org/v1").max_concurrency == 16
    assert provider(base_url="http://localhost:8000/v1", max_concurrency=64).max_concurrency == 64


def test_benchmark_options_table_is_checked_by_the_benchmark(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """\
        [[benchmarks]]
        name = "livecodebench"
        options = { release = "release_v5", start_date = 2024-08-01 }
        """))
    assert config.benchmarks[0].options == {
        "release": "release_v5", "start_date": __import__("datetime").date(2024, 8, 1)
    }
    assert load_config(write(tmp_path, "[[benchmarks]]\nname = 'humaneval'\n")).benchmarks[
        0
    ].options == {}
    for text, key, reason in [
        ("name = 'livecodebench'\noptions = { month = '5' }", "benchmarks[0].options.month",
         "unknown option; expected one of: release, start_date, end_date"),
        ("name = 'livecodebench'\noptions = { release = 'v9' }", "benchmarks[0].options.release",
         "unknown release 'v9'"),
        ("name = 'humaneval'\noptions = { release = 'v5' }", "benchmarks[0].options.release",
         "unknown option (this benchmark takes none)"),
        ("name = 'humaneval'\noptions = 'v5'", "benchmarks[0].options",
         "must be a table, got a string"),
    ]:
        error = load_error(tmp_path, "[[benchmarks]]\n" + text + "\n")
        assert (error.key, reason in error.reason) == (key, True), error


def test_every_field_of_every_shape_carries_its_docstring_into_the_schema() -> None:
    from pydantic import TypeAdapter

    schema = TypeAdapter(Config).json_schema()
    shapes = {"Config": schema, **schema["$defs"]}
    assert set(shapes) == {"Config", "Price", "ProviderConfig", "ModelConfig", "BenchmarkConfig",
                           "EmbeddingConfig"}
    for name, shape in shapes.items():
        for key, prop in shape["properties"].items():
            assert prop.get("description") or "$ref" in prop, f"{name}.{key} has no docstring"


def test_shapes_built_in_code_are_checked_only_when_written_and_read() -> None:
    """`avp models add` builds a ModelConfig from its options before add_model checks it in
    the file, so a constructor never refuses (and never names a key the file does not have)."""
    odd = ModelConfig(id="m", provider="nowhere", temperature=9.0, price=Price(-1.0, 1.0))
    assert odd.temperature == 9.0 and odd.model == "m"
    with pytest.raises(ConfigError) as info:
        config_from_dict({"models": [dataclasses.asdict(odd)]}, env={})
    assert (info.value.key, info.value.reason) == (
        "models[0].temperature", "must be between 0 and 2, got 9"
    )
