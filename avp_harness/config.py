"""Typed configuration: `avp.toml` plus the environment.

The shapes are frozen dataclasses whose fields carry their rules as pydantic annotations (strict
types, bounds, allowed values, cross-references in validators); `config_from_dict` validates the
parsed TOML with a pydantic `TypeAdapter`, and the first error becomes
`ConfigError(file, key, reason)` where `key` is a dotted path such as
`models[2].price.input_per_m` or `providers.local.rpm`, so the CLI prints one line that points at
the fix. Every field carries a docstring. Code may build a shape directly (`avp models add` builds
a ModelConfig from its options): it is checked when it is written to and read from the file.

Where things come from:

* the file: `load_config(path)`, else `$AVP_CONFIG`, else `./avp.toml`;
* the environment: `AVP_BUDGET` overrides `budget`; API keys are read from the variable a provider
  names (`api_key_env`) at call time and never stored anywhere;
* built-in providers: `openrouter` and `openai` always exist; a `[providers.openrouter]` table in
  the file overlays the built-in values (so `max_concurrency = 8` alone is enough).

Relative paths in the file (`db`, `benchmarks[].source`) are relative to the file's folder.

`template()` is the commented `avp.toml` that `avp init` writes; `add_model()` appends a
`[[models]]` table to an existing file without disturbing its text or comments.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import re
import tempfile
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from avp_harness.errors import ConfigError
from avp_harness.names import REASONING_EFFORTS as REASONING_EFFORTS
from avp_harness.types import Usage, canonical_json

if TYPE_CHECKING:
    from benchmarks import Selection

DEFAULT_CONFIG = "avp.toml"
"""File read when neither a path nor `$AVP_CONFIG` is given."""

# REASONING_EFFORTS: accepted `reasoning_effort` values (OpenAI / OpenRouter spellings), named in
# avp_harness.names so `avp --help` needs no pydantic; imported above and re-exported.

EMBEDDING_BACKENDS = ("local", "tfidf", "api")
"""Accepted `embedding.backend` values."""

RESERVED_BODY_KEYS = ("model", "messages", "stream")
"""Request-body keys the harness sets itself; `extra_body` may not override them."""

# A server on this machine usually generates a few requests at a time (llama.cpp's default slots,
# Ollama's OLLAMA_NUM_PARALLEL), often one: 16 in flight would queue, time out and be generated
# anyway. Timeouts lower the bound further (gateway/limits.py); a batching server such as vLLM
# wants `max_concurrency = 64` set explicitly.
LOCAL_MAX_CONCURRENCY = 4

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

HINTS = {
    "api_key": "API keys never go in avp.toml: export the key and name the variable "
    "with api_key_env",
}
"""Unknown keys that deserve more than the list of known ones."""


# --------------------------------------------------------------------------------------------
# The rules, as pydantic annotations
# --------------------------------------------------------------------------------------------


def _invalid(reason: str, *at: str | int) -> PydanticCustomError:
    """A validation error whose reason is final; `at` extends the failing location (a key inside
    the value being checked)."""
    return PydanticCustomError("avp", "{reason}", {"reason": reason, "at": at})


def _num(value: Any) -> str:
    """A number as the messages show it: ints as they are, floats like `%g`."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _between(low: float, high: float) -> AfterValidator:
    def check(value: float) -> float:
        if not low <= value <= high:
            raise _invalid(f"must be between {low:g} and {high:g}, got {value:g}")
        return value

    return AfterValidator(check)


def _one_of(allowed: Collection[str]) -> AfterValidator:
    def check(value: str) -> str:
        if value not in allowed:
            raise _invalid(f"must be one of {', '.join(allowed)}, got {value!r}")
        return value

    return AfterValidator(check)


def _not_blank(reason: str) -> AfterValidator:
    def check(value: str) -> str:
        if not value.strip():
            raise _invalid(reason)
        return value

    return AfterValidator(check)


def _label(value: str) -> str:
    if not value.strip() or value != value.strip():
        raise _invalid(f"must be a non-empty label without surrounding spaces: {value!r}")
    return value


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid(f"must be an http(s) URL, got {url!r}")
    return url.rstrip("/")


def _env_name(name: str) -> str:
    if not ENV_NAME.fullmatch(name):
        # Never echo the value: a pasted key must not end up in a terminal log.
        raise _invalid(
            "must be the NAME of an environment variable (letters, digits, _); "
            "the key itself never goes in avp.toml"
        )
    return name


def _iso_date(value: Any) -> Any:
    """A TOML date becomes its ISO text; text must be an ISO date (or empty)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str) and value:
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise _invalid(f"must be an ISO date YYYY-MM-DD, got {value!r}") from None
    return value


def _no_nulls(value: Any) -> Any:
    """A free-form table: None values mean "not set"."""
    if not isinstance(value, Mapping):
        return value
    return {k: v for k, v in value.items() if v is not None}


def _body(value: Any) -> Any:
    """`extra_body`: None values mean "not set"; the harness's own keys are refused."""
    if not isinstance(value, Mapping):
        return value
    for key in RESERVED_BODY_KEYS:
        if value.get(key) is not None:
            raise _invalid("set by the harness; it cannot be overridden in extra_body", key)
    return _no_nulls(value)


def _known_benchmark(name: str) -> str:
    from benchmarks import names  # lazy: the registry lists, loads no data

    known = names()
    if name not in known:
        raise _invalid(f"unknown benchmark {name!r} (known: {', '.join(known)})")
    return name


Str = Annotated[str, Field(strict=True)]
Int = Annotated[int, Field(strict=True)]
Bool = Annotated[bool, Field(strict=True)]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Dollars = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]
Positive = Annotated[int, Field(strict=True, ge=1)]
Table = Mapping[str, Any]


def _read_table(data: Any, allowed: tuple[str, ...], *where: str | int) -> Any:
    """One TOML table as a shape reads it: None values mean "not set" (TOML has no null; dicts
    built in code use it), and a key the shape does not define is refused with the list of those
    it does (a typo must not be silently ignored). `where` locates the table in the value being
    validated."""
    if not isinstance(data, Mapping):
        return data  # pydantic says "must be a table"
    for name, value in data.items():
        if name not in allowed and value is not None:
            hint = HINTS.get(name) or f"expected one of: {', '.join(allowed)}"
            raise _invalid(f"unknown key; {hint}", *where, name)
    return {name: value for name, value in data.items() if value is not None}


def _table(keys: Callable[[], tuple[str, ...]]) -> Any:
    """The `mode="before"` validator of a shape read from one table (see `_read_table`)."""

    def read(cls: type, data: Any) -> Any:
        return _read_table(data, keys())

    return model_validator(mode="before")(classmethod(read))  # type: ignore[arg-type]


RULES = ConfigDict(extra="forbid", use_attribute_docstrings=True)
"""Every shape: no keys but its fields, and each field's docstring is its description."""

_S = TypeVar("_S")


# --------------------------------------------------------------------------------------------
# The shapes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    """A dated price table entry for one model, in dollars per million tokens."""

    __pydantic_config__ = RULES
    _read = _table(lambda: PRICE_KEYS)

    input_per_m: Dollars
    """Dollars per 1M input (prompt) tokens."""
    output_per_m: Dollars
    """Dollars per 1M output tokens. Reasoning tokens are output tokens."""
    cached_input_per_m: Dollars | None = None
    """Dollars per 1M cached input tokens; None bills cached input at `input_per_m`."""
    date: Annotated[Str, BeforeValidator(_iso_date)] = ""
    """ISO date (YYYY-MM-DD) the prices were read; it versions the price table. A TOML date
    (`date = 2025-10-01`) or a string."""

    @property
    def version(self) -> str:
        """The price-table version stored with every `price_table` cost: the date, or
        "unversioned" when no date was given."""
        return self.date or "unversioned"

    def cost(self, usage: Usage) -> float:
        """Dollars for one call.

        `usage.completion_tokens` already includes the reasoning tokens (the OpenAI convention,
        which OpenRouter follows), so reasoning is billed as output once and
        `usage.reasoning_tokens` is not added again. `usage.cached_tokens` is the cached part of
        `usage.prompt_tokens`.
        """
        cached = min(max(usage.cached_tokens, 0), max(usage.prompt_tokens, 0))
        uncached = max(usage.prompt_tokens, 0) - cached
        cached_rate = (
            self.input_per_m if self.cached_input_per_m is None else self.cached_input_per_m
        )
        dollars = (
            uncached * self.input_per_m
            + cached * cached_rate
            + max(usage.completion_tokens, 0) * self.output_per_m
        )
        return dollars / 1e6


@dataclass(frozen=True)
class ProviderConfig:
    """An OpenAI-compatible endpoint and the limits the collector keeps when calling it."""

    __pydantic_config__ = RULES
    _read = _table(lambda: ("name", *PROVIDER_KEYS))  # the file's keys are checked above

    name: Str
    """Name models refer to (`provider = "..."`); the key of its `[providers.NAME]` table."""
    base_url: Annotated[Str, AfterValidator(_base_url)]
    """Base URL of the OpenAI-compatible API, e.g. https://openrouter.ai/api/v1 (required for a
    provider that is not built in; a trailing / is dropped)."""
    api_key_env: Annotated[Str, AfterValidator(_env_name)] | None = None
    """Name of the environment variable holding the API key, read at call time and never
    stored; None for keyless local servers."""
    max_concurrency: Positive = 16
    """Most calls in flight at once (the adaptive back-off may lower it temporarily). A new
    provider on this machine (localhost, 127.x, ::1) defaults to LOCAL_MAX_CONCURRENCY."""
    rpm: Positive | None = None
    """Requests per minute (None = unlimited)."""
    tpm: Positive | None = None
    """Tokens per minute (None = unlimited)."""
    timeout_s: Annotated[Number, Field(gt=0)] = 120.0
    """Seconds before one HTTP call is abandoned (and retried as transient)."""
    max_attempts: Positive = 6
    """Tries per call for transient errors (429, 5xx, timeouts, resets), the first included."""
    request_cost: Bool = False
    """Ask for the provider-reported cost (OpenRouter's `usage: {include: true}`)."""
    headers: Mapping[str, Str] = field(default_factory=dict, hash=False)
    """Extra HTTP headers sent with every call (e.g. HTTP-Referer / X-Title for OpenRouter)."""

    def api_key(self) -> str | None:
        """The key from `os.environ[api_key_env]`, read now; None for a keyless provider.

        Raises ConfigError naming the variable and the provider when it is set in the config but
        missing or empty in the environment.
        """
        if self.api_key_env is None:
            return None
        value = os.environ.get(self.api_key_env, "").strip()
        if not value:
            raise ConfigError(
                "environment",
                self.api_key_env,
                f"not set; provider {self.name!r} reads its API key from it "
                f"(export {self.api_key_env}=...)",
            )
        return value

    def connection_key(self) -> str:
        """Scope of the concurrency and rate limits: the provider name."""
        return self.name


@dataclass(frozen=True)
class ModelConfig:
    """One candidate model (or the judge): where to call it and with which parameters."""

    __pydantic_config__ = RULES
    _read = _table(lambda: MODEL_KEYS)

    id: Annotated[Str, AfterValidator(_label)]
    """Label in the store and in reports, unique in the config, e.g. "openai/gpt-5"."""
    provider: Str
    """Name of the provider to call it through (a built-in one or a `[providers.NAME]`)."""
    model: Str = ""
    """Model name sent to the API; empty means the same as `id`."""
    temperature: Annotated[Number, _between(0.0, 2.0)] = 0.0
    """Sampling temperature, 0..2 (the judge is pinned at 0)."""
    max_tokens: Positive | None = None
    """Cap on output tokens (None = the provider's default)."""
    reasoning_effort: Annotated[Str, _one_of(REASONING_EFFORTS)] | None = None
    """One of REASONING_EFFORTS, or None to leave it to the provider."""
    extra_body: Annotated[Table, BeforeValidator(_body)] = field(
        default_factory=dict, hash=False
    )
    """Merged into the request body as-is (e.g. OpenRouter `provider` routing preferences);
    `model`, `messages` and `stream` are the harness's own."""
    price: Price | None = None
    """Dated price table used when the provider does not report the cost; None = unknown."""

    def __post_init__(self) -> None:
        if not self.model:
            object.__setattr__(self, "model", self.id)

    def generation_params(self) -> dict[str, Any]:
        """Everything that changes the answer besides the prompt (for fingerprints and display)."""
        return {
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "reasoning_effort": self.reasoning_effort,
            "extra_body": dict(self.extra_body),
        }


NO_EMPTY_SOURCE = "must not be empty (omit it for the default data)"


@dataclass(frozen=True)
class BenchmarkConfig:
    """One benchmark of the suite and which of its items to run."""

    __pydantic_config__ = RULES
    _read = _table(lambda: BENCHMARK_KEYS)

    name: Annotated[Str, AfterValidator(_known_benchmark)]
    """Registered benchmark name (see `benchmarks.names()`)."""
    source: Annotated[Str, _not_blank(NO_EMPTY_SOURCE)] | None = None
    """File or folder in the official format; None = the benchmark's default data."""
    limit: Annotated[Int, Field(ge=0)] | None = None
    """Keep the first N items in official order (exclusive with `sample`)."""
    sample: Annotated[Int, Field(ge=0)] | None = None
    """Draw N items at random with `seed` (exclusive with `limit`)."""
    seed: Int = 0
    """Seed for `sample` and for per-item choice permutations."""
    samples: Positive = 1
    """Completions requested per item (sample indices 0..samples-1)."""
    temperature: Annotated[Number, _between(0.0, 2.0)] | None = None
    """Sampling temperature of every model's calls on this benchmark, 0..2 (e.g. 0.7 with
    `samples = 10` for Self-Consistency); None = each model's own `temperature`."""
    options: Annotated[Table, BeforeValidator(_no_nulls)] = field(default_factory=dict, hash=False)
    """The benchmark's own options (`Benchmark.with_options`), e.g. LiveCodeBench's release and
    date window: `options = { release = "release_v5", start_date = 2024-08-01 }`."""

    @model_validator(mode="after")
    def _consistent(self) -> BenchmarkConfig:
        if self.limit is not None and self.sample is not None:
            raise _invalid("set either limit or sample, not both", "sample")
        import benchmarks

        try:  # the benchmark checks its own options (no data is loaded)
            benchmarks.get(self.name).with_options(self.options)
        except benchmarks.OptionError as exc:
            at = ("options", exc.option) if exc.option else ("options",)
            raise _invalid(exc.reason, *at) from None
        return self

    def selection(self) -> Selection:
        """The `benchmarks.Selection` this entry stands for (imported lazily: config sits
        below the benchmarks and only needs their registry)."""
        from benchmarks import Selection

        return Selection(
            limit=self.limit,
            sample=self.sample,
            seed=self.seed,
            source=Path(self.source) if self.source else None,
        )


@dataclass(frozen=True)
class EmbeddingConfig:
    """How routers embed query text."""

    __pydantic_config__ = RULES
    _read = _table(lambda: EMBEDDING_KEYS)

    backend: Annotated[Str, _one_of(EMBEDDING_BACKENDS)] = "local"
    """"local" (all-MiniLM-L6-v2, int8 ONNX run by onnxruntime, offline), "tfidf" (offline, no
    weights) or "api" (a provider)."""
    model: Str = "all-MiniLM-L6-v2"
    """Embedding model name for the local or API backend."""
    provider: Str | None = None
    """Provider to call for backend "api" (required then)."""
    max_chars: Positive = 2000
    """Head truncation: keep the last `max_chars` characters (the question sits at the end)."""

    @model_validator(mode="after")
    def _provider_for_api(self) -> EmbeddingConfig:
        if self.backend == "api" and self.provider is None:
            raise _invalid('required when backend = "api"', "provider")
        return self


def builtin_providers() -> dict[str, ProviderConfig]:
    """Providers that exist without any configuration."""
    return {
        "openrouter": ProviderConfig(
            name="openrouter",
            base_url="https://openrouter.ai/api/v1",
            api_key_env="OPENROUTER_API_KEY",
            max_concurrency=32,
            request_cost=True,
        ),
        "openai": ProviderConfig(
            name="openai", base_url="https://api.openai.com/v1", api_key_env="OPENAI_API_KEY"
        ),
    }


def is_local_url(url: str) -> bool:
    """Whether a base URL points at this machine (localhost, 127.0.0.0/8, ::1, 0.0.0.0)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1", "0.0.0.0") or host.startswith("127.")


def _overlay_providers(table: Any) -> Any:
    """The `[providers]` table as complete provider entries: a built-in provider's values under
    the file's, each entry named by its key, and a new provider on this machine defaulting to
    LOCAL_MAX_CONCURRENCY in flight."""
    if not isinstance(table, Mapping):
        return table  # pydantic says "must be a table"
    providers: dict[str, Any] = {
        name: dataclasses.asdict(builtin) for name, builtin in builtin_providers().items()
    }
    for name, entry in table.items():
        if entry is None:  # not set (a dict built in code)
            continue
        if not isinstance(entry, Mapping):
            providers[name] = entry
            continue
        given = _read_table(entry, PROVIDER_KEYS, "providers", name)
        builtin = providers.get(name)
        merged = {**(builtin or {}), **given, "name": name}
        if builtin is None:
            url = given.get("base_url")
            if "max_concurrency" not in given and isinstance(url, str) and is_local_url(url):
                merged["max_concurrency"] = LOCAL_MAX_CONCURRENCY
        providers[name] = merged
    return providers


@dataclass(frozen=True)
class Config:
    """The whole configuration, validated."""

    __pydantic_config__ = RULES

    path: Path | None = None
    """File it was read from (None when built in code)."""
    db: Annotated[Str, _not_blank("must not be empty")] = "runs.db"
    """Store: a SQLite path or a SQLAlchemy URL; `--db` and `$AVP_DB` override it (in the CLI)."""
    budget: Dollars | None = None
    """Run-wide dollar budget (None = unlimited); `$AVP_BUDGET` overrides it."""
    providers: Mapping[str, ProviderConfig] = field(default_factory=builtin_providers, hash=False)
    """Providers by name, the built-in ones included."""
    models: tuple[ModelConfig, ...] = ()
    """Candidate models, in file order."""
    benchmarks: tuple[BenchmarkConfig, ...] = ()
    """The suite, in file order."""
    judge: ModelConfig | None = None
    """Pinned LLM judge (temperature 0) for SimpleQA / HLE; None = judged benchmarks fail."""
    user_simulator: ModelConfig | None = None
    """τ²-bench's simulated user: its own provider and price, its temperature pinned as set
    (default 0, τ²'s own); part of every τ² cell's fingerprint. None = τ²-bench cannot run."""
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    """How routers embed query text."""

    @model_validator(mode="before")
    @classmethod
    def _read(cls, data: Any) -> Any:
        data = _read_table(data, TOP_LEVEL_KEYS)
        if isinstance(data, Mapping) and "providers" in data:
            data = {**data, "providers": _overlay_providers(data["providers"])}
        return data

    @model_validator(mode="after")
    def _references(self) -> Config:
        """What one table cannot check alone: provider names, unique models and benchmarks, the
        judge's temperature."""
        def known(name: str, *at: str | int) -> None:
            if name not in self.providers:
                listed = ", ".join(sorted(self.providers))
                raise _invalid(f"unknown provider {name!r} (known: {listed})", *at)

        first_seen: dict[str, int] = {}
        same: dict[str, str] = {}  # identity -> id
        for i, model in enumerate(self.models):
            known(model.provider, "models", i, "provider")
            if model.id in first_seen:
                raise _invalid(f"duplicate model id {model.id!r} (also "
                               f"models[{first_seen[model.id]}])", "models", i, "id")
            first_seen[model.id] = i
            # A model IS its provider route, model name and generation parameters; the id is its
            # label. Two ids for one configuration would share (and split) the same cells.
            identity = canonical_json({"provider": model.provider, **model.generation_params()})
            if identity in same:
                raise _invalid(
                    f"{model.id!r} has the same provider, model and parameters as "
                    f"{same[identity]!r}: one model under two ids (give it other parameters, or "
                    "rename the first instead)", "models", i, "id",
                )
            same[identity] = model.id
        if self.judge is not None:
            known(self.judge.provider, "judge", "provider")
            if self.judge.temperature != 0.0:
                raise _invalid("the judge is pinned at temperature 0; remove the key",
                               "judge", "temperature")
        listed: dict[str, int] = {}
        for i, bench in enumerate(self.benchmarks):
            if bench.name in listed:
                raise _invalid(f"benchmark {bench.name!r} is listed twice (also "
                               f"benchmarks[{listed[bench.name]}])", "benchmarks", i, "name")
            listed[bench.name] = i
        if self.user_simulator is not None:
            known(self.user_simulator.provider, "user_simulator", "provider")
        if self.embedding.provider is not None:
            known(self.embedding.provider, "embedding", "provider")
        return self

    def model(self, id: str) -> ModelConfig:
        """The model with this id; ConfigError listing the known ids otherwise."""
        for model in self.models:
            if model.id == id:
                return model
        known = ", ".join(m.id for m in self.models) or "none"
        raise ConfigError(self.file_label(), "models", f"no model with id {id!r} (known: {known})")

    def provider_for(self, model: ModelConfig) -> ProviderConfig:
        """The provider a model is called through; ConfigError if it is not configured."""
        provider = self.providers.get(model.provider)
        if provider is None:
            known = ", ".join(sorted(self.providers))
            raise ConfigError(
                self.file_label(), "providers",
                f"unknown provider {model.provider!r} (known: {known})",
            )
        return provider

    def check_runnable(self) -> None:
        """Fail before any call (or any screen) when there is nothing to run or a key is
        missing."""
        if not self.models:
            raise ConfigError(self.file_label(), "models", "no models configured")
        if not self.benchmarks:
            raise ConfigError(self.file_label(), "benchmarks", "no benchmarks configured")
        for model in self.models:
            self.provider_for(model).api_key()

    def file_label(self) -> str:
        """The config file's path as errors name it (`<config>` for one built in code)."""
        return str(self.path) if self.path else "<config>"


def _field_names(cls: type, *, drop: Collection[str] = ()) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name not in drop)


TOP_LEVEL_KEYS: tuple[str, ...] = _field_names(Config, drop=["path"])
PROVIDER_KEYS: tuple[str, ...] = _field_names(ProviderConfig, drop=["name"])
MODEL_KEYS: tuple[str, ...] = _field_names(ModelConfig)
PRICE_KEYS: tuple[str, ...] = _field_names(Price)
BENCHMARK_KEYS: tuple[str, ...] = _field_names(BenchmarkConfig)
EMBEDDING_KEYS: tuple[str, ...] = _field_names(EmbeddingConfig)


# --------------------------------------------------------------------------------------------
# Loading: pydantic validates, the first error becomes ConfigError(file, dotted key, reason)
# --------------------------------------------------------------------------------------------


def config_path(path: str | Path | None = None) -> Path:
    """Where the config lives: `path`, else `$AVP_CONFIG`, else ./avp.toml."""
    if path is not None and str(path):
        return Path(path)
    return Path(os.environ.get("AVP_CONFIG") or DEFAULT_CONFIG)


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate an avp.toml (see `config_path` for which one)."""
    file = config_path(path)
    return config_from_dict(_read_toml(file), file)


@dataclass(frozen=True)
class _DbOnly:
    """The `db` key alone (what `config_db` checks)."""

    __pydantic_config__ = ConfigDict(extra="ignore")

    db: Annotated[Str, _not_blank("must not be empty")] | None = None


def config_db(path: str | Path | None = None) -> str | None:
    """The store the config file names (`db`, anchored like `load_config` does), or None when
    there is no config file or it names none. Only the `db` key is read and checked, so a command
    that merely opens the store is not refused for a mistake elsewhere in the file."""
    file = config_path(path)
    if not file.exists():
        return None
    db = _validate(_DbOnly, _read_toml(file), str(file)).db
    if db is None:
        return None
    return db if "://" in db else _anchor(db, file.parent)


def _read_toml(file: Path) -> dict[str, Any]:
    """Parse a TOML file; every failure is a ConfigError naming the file."""
    name = str(file)
    if not file.exists():
        raise ConfigError(name, "", "config file not found (create one with `avp init`)")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(name, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise ConfigError(name, "", f"cannot read: {exc.strerror or exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = re.search(r"\s*\(at (line \d+, column \d+|end of document)\)$", message)
        if where:
            reason = f"invalid TOML: {message[: where.start()]}"
            raise ConfigError(name, where.group(1), reason) from exc
        raise ConfigError(name, "", f"invalid TOML: {message}") from exc


def config_from_dict(
    data: Mapping[str, Any], path: Path | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Validate parsed TOML (or a dict built in code) into a Config.

    `path` names the file in errors and anchors relative paths; `env` (default `os.environ`)
    supplies the overrides (`AVP_BUDGET`).
    """
    env = os.environ if env is None else env
    file = str(path) if path is not None else "<config>"
    if not isinstance(data, Mapping):
        raise ConfigError(file, "", f"must be a table, got {_kind(data)}")
    config = _validate(Config, data, file)
    base = path.parent if path is not None else None
    budget = config.budget
    raw_budget = env.get("AVP_BUDGET", "").strip()
    if raw_budget:
        budget = _env_budget(raw_budget)
    return dataclasses.replace(
        config,
        path=path,
        db=config.db if "://" in config.db else _anchor(config.db, base),
        budget=budget,
        benchmarks=tuple(
            dataclasses.replace(b, source=_anchor(b.source, base)) if b.source else b
            for b in config.benchmarks
        ),
    )


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}
"""One pydantic validator per shape, built on first use (not at import: `avp --help` stays fast)."""


def _validate(shape: type[_S], data: Any, file: str) -> _S:
    adapter = _ADAPTERS.get(shape)
    if adapter is None:
        adapter = _ADAPTERS[shape] = TypeAdapter(shape)
    try:
        return cast(_S, adapter.validate_python(data))
    except ValidationError as exc:
        key, reason = _explain(exc.errors()[0])
        raise ConfigError(file, key, reason) from None


def _explain(error: Any) -> tuple[str, str]:
    """(dotted key, reason) of one pydantic error, in the words of the file's rules."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    loc = list(error["loc"])
    got = _kind(value)
    if kind == "avp":
        loc += list(ctx.get("at", ()))
        reason = str(ctx["reason"])
    elif kind == "missing":
        reason = "required"
        if loc and loc[-1] == "base_url":
            reason += " (the provider's OpenAI-compatible API URL)"
    elif kind in ("unexpected_keyword_argument", "extra_forbidden"):
        reason = "unknown key"
    elif kind in ("string_type", "string_sub_type"):
        reason = f"must be a string, got {got}"
    elif kind in ("int_type", "int_from_float", "int_parsing"):
        reason = f"must be an integer, got {got}"
    elif kind in ("float_type", "float_parsing"):
        reason = f"must be a number, got {got}"
    elif kind in ("bool_type", "bool_parsing"):
        reason = f"must be true or false, got {got}"
    elif kind in ("dict_type", "mapping_type", "dataclass_type", "model_type"):
        reason = f"must be a table, got {got}"
    elif kind in ("tuple_type", "list_type") and loc and loc[-1] in ("models", "benchmarks"):
        reason = f"must be an array of tables ([[{loc[-1]}]]), got {got}"
    elif kind in ("tuple_type", "list_type"):
        reason = f"must be an array, got {got}"
    elif kind == "finite_number":
        reason = f"must be a finite number, got {value}"
    elif kind == "greater_than_equal":
        reason = f"must be >= {_num(ctx['ge'])}, got {_num(value)}"
    elif kind == "greater_than":
        reason = f"must be > {_num(ctx['gt'])}, got {_num(value)}"
    else:  # a rule without its own words: pydantic's, which still name the problem
        reason = str(error["msg"])[:1].lower() + str(error["msg"])[1:]
    return _dotted(loc), reason


def _dotted(loc: list[Any]) -> str:
    """`["models", 2, "price", "input_per_m"]` -> `models[2].price.input_per_m`."""
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("." if key else "") + _key_part(str(part))
    return key


def _anchor(value: str, base: Path | None) -> str:
    """A path from the file: `~` expanded, and a relative one made relative to the file's folder
    (":memory:"-style SQLite names are left alone)."""
    if value.startswith(":"):
        return value
    expanded = Path(value).expanduser()
    if base is None or expanded.is_absolute():
        return str(expanded) if expanded.is_absolute() else value
    return str(base / expanded)


def _env_budget(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError("environment", "AVP_BUDGET", f"not a number: {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError("environment", "AVP_BUDGET", f"must be a dollar amount >= 0, got {raw}")
    return value


def _kind(value: Any) -> str:
    """TOML's name for a value's type, for error messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dt.date | dt.time):
        return "a date/time"
    return type(value).__name__


def _key_part(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'


# --------------------------------------------------------------------------------------------
# Writing: add_model and the template
# --------------------------------------------------------------------------------------------


def add_model(path: str | Path, model: ModelConfig) -> None:
    """Append a `[[models]]` table for `model` to an existing avp.toml.

    The file's text and comments are kept byte for byte; the new table goes at the end. The
    result is validated by loading it from a temporary file next to the original, which then
    atomically replaces it: on any error (duplicate id, unknown provider, bad value) the
    original file is untouched and ConfigError names the original file.
    """
    file = Path(path)
    current = load_config(file)
    if any(m.id == model.id for m in current.models):
        raise ConfigError(str(file), "models", f"a model with id {model.id!r} already exists")
    original = file.read_text(encoding="utf-8")
    index = len(current.models)
    separator = (
        ""
        if not original or original.endswith("\n\n")
        else ("\n" if original.endswith("\n") else "\n\n")
    )
    text = original + separator + model_toml(model, key=f"models[{index}]")
    handle, temp_name = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        try:
            config_from_dict(_read_toml(temp), file)
        except ConfigError as exc:
            raise ConfigError(str(file), exc.key, exc.reason) from None
        os.chmod(temp, file.stat().st_mode & 0o7777)
        os.replace(temp, file)
    finally:
        temp.unlink(missing_ok=True)


def model_toml(model: ModelConfig, key: str = "models") -> str:
    """A `[[models]]` table for `model`, listing only what differs from the defaults.

    `key` names the table in errors (a value TOML cannot hold, such as null in `extra_body`).
    """
    lines = ["[[models]]", f"id = {_toml_value(model.id, key + '.id')}"]
    lines.append(f"provider = {_toml_value(model.provider, key + '.provider')}")
    if model.model != model.id:
        lines.append(f"model = {_toml_value(model.model, key + '.model')}")
    if model.temperature != 0.0:
        lines.append(f"temperature = {_toml_value(model.temperature, key + '.temperature')}")
    if model.max_tokens is not None:
        lines.append(f"max_tokens = {_toml_value(model.max_tokens, key + '.max_tokens')}")
    if model.reasoning_effort is not None:
        lines.append(
            f"reasoning_effort = {_toml_value(model.reasoning_effort, key + '.reasoning_effort')}"
        )
    if model.extra_body:
        lines.append(f"extra_body = {_toml_value(dict(model.extra_body), key + '.extra_body')}")
    if model.price is not None:
        price: dict[str, Any] = {
            "input_per_m": model.price.input_per_m,
            "output_per_m": model.price.output_per_m,
        }
        if model.price.cached_input_per_m is not None:
            price["cached_input_per_m"] = model.price.cached_input_per_m
        if model.price.date:
            price["date"] = model.price.date
        lines.append(f"price = {_toml_value(price, key + '.price')}")
    return "\n".join(lines) + "\n"


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any, key: str) -> str:
    """One TOML value (inline tables for mappings); ConfigError for what TOML cannot hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v, f"{key}[{i}]") for i, v in enumerate(value)) + "]"
    if isinstance(value, Mapping):
        items = [
            f"{_toml_key(str(k))} = {_toml_value(v, f'{key}.{_key_part(str(k))}')}"
            for k, v in value.items()
        ]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    if value is None:
        raise ConfigError("<new model>", key, "null cannot be written to TOML; omit the key")
    raise ConfigError("<new model>", key, f"cannot write {type(value).__name__} to TOML")


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _toml_string(name)


def template() -> str:
    """The commented avp.toml `avp init` writes. It loads and validates as it is."""
    return TEMPLATE


TEMPLATE = """\
# avp.toml: what `avp run` evaluates and how. Written by `avp init`; edit freely.
# Every key is optional unless marked "required". Relative paths are relative to this file.
# API keys never go in this file: each provider names the environment variable that holds its key.

# Store: a SQLite file (default runs.db) or a SQLAlchemy URL such as
# "postgresql+psycopg://user@host/avp" to share one store between machines.
# `--db` and $AVP_DB override it.
db = "runs.db"

# Run-wide budget in dollars: `avp run` stops scheduling calls before it would exceed it,
# projecting the cost to finish from the running mean cost per (model, benchmark).
# $AVP_BUDGET overrides it. Remove the line for no limit.
budget = 5.0

# ---------------------------------------------------------------------------------------------
# Providers: OpenAI-compatible endpoints.
# Two exist without configuration:
#   openrouter  https://openrouter.ai/api/v1  key in $OPENROUTER_API_KEY, reports the cost of
#               each call, max_concurrency 32
#   openai      https://api.openai.com/v1     key in $OPENAI_API_KEY
# A table with one of those names overlays its built-in values; any other name is a new provider.
# ---------------------------------------------------------------------------------------------

[providers.openrouter]
base_url = "https://openrouter.ai/api/v1"   # required for new providers
api_key_env = "OPENROUTER_API_KEY"          # env var with the key (read at call time, never stored)
max_concurrency = 32                        # calls in flight at once
# rpm = 600                                 # requests per minute (omit = unlimited)
# tpm = 2000000                             # tokens per minute (omit = unlimited)
timeout_s = 120.0                           # seconds per HTTP call before it is retried
max_attempts = 6                            # tries per call for 429 / 5xx / timeouts
request_cost = true                         # ask OpenRouter for usage.cost (the dollars it billed)
# Optional attribution headers OpenRouter shows on its dashboards:
# headers = { "HTTP-Referer" = "https://example.org/my-lab", "X-Title" = "avp-harness" }

# A local vLLM server (`vllm serve MODEL`), no key:
# [providers.vllm]
# base_url = "http://localhost:8000/v1"
# max_concurrency = 64

# A llama.cpp server (`llama-server -m model.gguf`), no key:
# [providers.llamacpp]
# base_url = "http://localhost:8080/v1"
# max_concurrency = 4

# Ollama's OpenAI-compatible endpoint, no key:
# [providers.ollama]
# base_url = "http://localhost:11434/v1"
# max_concurrency = 2
# timeout_s = 600.0

# ---------------------------------------------------------------------------------------------
# Models: one [[models]] table per candidate. Add more with `avp models add`.
#   id                label in the store and reports (required, unique)
#   provider          a provider name from above (required)
#   model             name sent to the API (default: the id)
#   temperature       0..2 (default 0)
#   max_tokens        output cap (default: the provider's)
#   reasoning_effort  none | minimal | low | medium | high | xhigh (default: the provider's)
#   extra_body        table merged into the request body as-is
#   price             dollars per 1M tokens, used when the provider does not report the cost;
#                     reasoning tokens are billed as output. `date` versions the price table.
# The prices below are PLACEHOLDERS: check the provider's model page and update them and the date.
# ---------------------------------------------------------------------------------------------

[[models]]
id = "openai/gpt-5-mini"
provider = "openrouter"
reasoning_effort = "low"
max_tokens = 16000
price = { input_per_m = 0.25, output_per_m = 2.0, cached_input_per_m = 0.025, date = "2025-10-01" }

[[models]]
id = "google/gemini-2.5-flash"
provider = "openrouter"
max_tokens = 16000
price = { input_per_m = 0.30, output_per_m = 2.50, date = "2025-10-01" }

[[models]]
id = "deepseek/deepseek-chat-v3.1"
provider = "openrouter"
max_tokens = 8000
price = { input_per_m = 0.20, output_per_m = 0.80, date = "2025-10-01" }
# Route only to providers that serve the full-precision weights (OpenRouter routing options):
# extra_body = { provider = { quantizations = ["fp8", "bf16"] } }

# A model served by the local vLLM provider above:
# [[models]]
# id = "local/qwen2.5-7b-instruct"
# provider = "vllm"
# model = "Qwen/Qwen2.5-7B-Instruct"

# ---------------------------------------------------------------------------------------------
# Benchmarks: the suite. `avp benchmarks` lists the names.
#   name     required
#   source   file or folder in the benchmark's official format (default: its bundled data)
#   limit    the first N items in official order     } one or the other
#   sample   N items drawn at random with `seed`     }
#   seed     for `sample` and choice shuffling (default 0)
#   samples  completions per item (default 1)
#   temperature  sampling temperature of every model on this benchmark (default: the model's)
#   options  the benchmark's own options, e.g. for livecodebench:
#            options = { release = "release_v5", start_date = 2024-08-01, end_date = 2025-02-01 }
# ---------------------------------------------------------------------------------------------

[[benchmarks]]
name = "arc_agi"
limit = 50

[[benchmarks]]
name = "humaneval"

# ---------------------------------------------------------------------------------------------
# Judge: the pinned model that grades SimpleQA and HLE answers (always temperature 0).
# Same keys as a model, except temperature.
# ---------------------------------------------------------------------------------------------

[judge]
id = "openai/gpt-4.1-mini"
provider = "openrouter"
max_tokens = 4096     # the default when unset: room for HLE's reasoning before its verdict
price = { input_per_m = 0.40, output_per_m = 1.60, date = "2025-10-01" }

# ---------------------------------------------------------------------------------------------
# User simulator: the model that plays the customer in τ²-bench (name = "tau2", needs
# `pip install -e '.[tau2]'`). Same keys as a model; its temperature (default 0, τ²'s own) and
# parameters are part of every τ² cell's fingerprint; its dollars are kept apart (cells.user_*).
# ---------------------------------------------------------------------------------------------

# [user_simulator]
# id = "openai/gpt-4.1"
# provider = "openrouter"
# price = { input_per_m = 2.00, output_per_m = 8.00, date = "2025-10-01" }

# ---------------------------------------------------------------------------------------------
# Embedding: how routers embed the query text.
# ---------------------------------------------------------------------------------------------

[embedding]
backend = "local"              # local (MiniLM ONNX, onnxruntime) | tfidf (no weights) | api
model = "all-MiniLM-L6-v2"     # embedding model for the local or api backend
# provider = "openai"          # required when backend = "api"
max_chars = 2000               # keep the last N characters of each query (the question)
"""
