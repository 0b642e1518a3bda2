"""Typed configuration: `avp.toml` plus the environment.

The file is read with `tomllib` into frozen dataclasses (the stdlib take on pydantic-settings):
every field carries a docstring, every value is checked, and every mistake raises
`ConfigError(file, key, reason)` where `key` is a dotted path such as `models[2].price.input_per_m`
or `providers.local.rpm`, so the CLI can print one line that points at the fix.

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

import datetime as dt
import math
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from avp_harness.errors import ConfigError
from avp_harness.types import Usage, canonical_json

if TYPE_CHECKING:
    from benchmarks import Selection

DEFAULT_CONFIG = "avp.toml"
"""File read when neither a path nor `$AVP_CONFIG` is given."""

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
"""Accepted `reasoning_effort` values (OpenAI / OpenRouter spellings)."""

EMBEDDING_BACKENDS = ("local", "tfidf", "api")
"""Accepted `embedding.backend` values."""

RESERVED_BODY_KEYS = ("model", "messages", "stream")
"""Request-body keys the harness sets itself; `extra_body` may not override them."""


# --------------------------------------------------------------------------------------------
# The shapes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    """A dated price table entry for one model, in dollars per million tokens."""

    input_per_m: float
    """Dollars per 1M input (prompt) tokens."""
    output_per_m: float
    """Dollars per 1M output tokens. Reasoning tokens are output tokens."""
    cached_input_per_m: float | None = None
    """Dollars per 1M cached input tokens; None bills cached input at `input_per_m`."""
    date: str = ""
    """ISO date (YYYY-MM-DD) the prices were read; it versions the price table."""

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

    name: str
    """Name models refer to (`provider = "..."`); the key of its `[providers.NAME]` table."""
    base_url: str
    """Base URL of the OpenAI-compatible API, e.g. https://openrouter.ai/api/v1."""
    api_key_env: str | None = None
    """Name of the environment variable holding the API key, read at call time and never
    stored; None for keyless local servers."""
    max_concurrency: int = 16
    """Most calls in flight at once (the adaptive back-off may lower it temporarily). A new
    provider on this machine (localhost, 127.x, ::1) defaults to LOCAL_MAX_CONCURRENCY."""
    rpm: int | None = None
    """Requests per minute (None = unlimited)."""
    tpm: int | None = None
    """Tokens per minute (None = unlimited)."""
    timeout_s: float = 120.0
    """Seconds before one HTTP call is abandoned (and retried as transient)."""
    max_attempts: int = 6
    """Tries per call for transient errors (429, 5xx, timeouts, resets), the first included."""
    request_cost: bool = False
    """Ask for the provider-reported cost (OpenRouter's `usage: {include: true}`)."""
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
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

    id: str
    """Label in the store and in reports, unique in the config, e.g. "openai/gpt-5"."""
    provider: str
    """Name of the provider to call it through."""
    model: str = ""
    """Model name sent to the API; empty means the same as `id`."""
    temperature: float = 0.0
    """Sampling temperature, 0..2."""
    max_tokens: int | None = None
    """Cap on output tokens (None = the provider's default)."""
    reasoning_effort: str | None = None
    """One of REASONING_EFFORTS, or None to leave it to the provider."""
    extra_body: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Merged into the request body as-is (e.g. OpenRouter `provider` routing preferences)."""
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


@dataclass(frozen=True)
class BenchmarkConfig:
    """One benchmark of the suite and which of its items to run."""

    name: str
    """Registered benchmark name (see `benchmarks.names()`)."""
    source: str | None = None
    """File or folder in the official format; None = the benchmark's default data."""
    limit: int | None = None
    """Keep the first N items in official order (exclusive with `sample`)."""
    sample: int | None = None
    """Draw N items at random with `seed` (exclusive with `limit`)."""
    seed: int = 0
    """Seed for `sample` and for per-item choice permutations."""
    samples: int = 1
    """Completions requested per item (sample indices 0..samples-1)."""
    temperature: float | None = None
    """Sampling temperature of every model's calls on this benchmark, 0..2 (e.g. 0.7 with
    `samples = 10` for Self-Consistency); None = each model's own `temperature`."""

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

    backend: str = "local"
    """"local" (sentence-transformers), "tfidf" (offline, no weights) or "api" (a provider)."""
    model: str = "all-MiniLM-L6-v2"
    """Embedding model name for the local or API backend."""
    provider: str | None = None
    """Provider to call for backend "api"."""
    max_chars: int = 2000
    """Head truncation: keep the last `max_chars` characters (the question sits at the end)."""


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


@dataclass(frozen=True)
class Config:
    """The whole configuration, validated."""

    path: Path | None = None
    """File it was read from (None when built in code)."""
    db: str = "runs.db"
    """Store: a SQLite path or a SQLAlchemy URL; `--db` and `$AVP_DB` override it (in the CLI)."""
    budget: float | None = None
    """Run-wide dollar budget (None = unlimited); `$AVP_BUDGET` overrides it."""
    providers: Mapping[str, ProviderConfig] = field(default_factory=builtin_providers, hash=False)
    """Providers by name, the built-in ones included."""
    models: tuple[ModelConfig, ...] = ()
    """Candidate models, in file order."""
    benchmarks: tuple[BenchmarkConfig, ...] = ()
    """The suite, in file order."""
    judge: ModelConfig | None = None
    """Pinned LLM judge (temperature 0) for SimpleQA / HLE; None = judged benchmarks fail."""
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    """How routers embed query text."""

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

    def file_label(self) -> str:
        """The config file's path as errors name it (`<config>` for one built in code)."""
        return str(self.path) if self.path else "<config>"


# --------------------------------------------------------------------------------------------
# Loading and validation
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


def config_db(path: str | Path | None = None) -> str | None:
    """The store the config file names (`db`, anchored like `load_config` does), or None when
    there is no config file or it names none. Only the `db` key is read and checked, so a command
    that merely opens the store is not refused for a mistake elsewhere in the file."""
    file = config_path(path)
    if not file.exists():
        return None
    root = _Table(str(file), "", _read_toml(file))
    if "db" not in root.data:
        return None
    db = root.string("db", "runs.db")
    if not db.strip():
        raise root.error("db", "must not be empty")
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
    base = path.parent if path is not None else None
    root = _Table(file, "", data)
    root.only(TOP_LEVEL_KEYS)

    db = root.string("db", "runs.db")
    if not db.strip():
        raise root.error("db", "must not be empty")
    budget = root.opt_float("budget", minimum=0.0)
    providers = _providers(root)
    models = _models(root, providers)
    judge_table = root.table("judge")
    judge = _model(judge_table, providers, judge=True) if judge_table is not None else None
    benchmarks = _benchmarks(root, base)
    embedding = _embedding(root, providers)

    raw_budget = env.get("AVP_BUDGET", "").strip()
    if raw_budget:
        budget = _env_budget(raw_budget)

    return Config(
        path=path,
        db=_anchor(db, base) if "://" not in db else db,
        budget=budget,
        providers=providers,
        models=models,
        benchmarks=benchmarks,
        judge=judge,
        embedding=embedding,
    )


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


def _field_names(cls: type, *, drop: Iterable[str] = ()) -> tuple[str, ...]:
    dropped = set(drop)
    return tuple(f.name for f in fields(cls) if f.name not in dropped)


TOP_LEVEL_KEYS = ("db", "budget", "providers", "models", "benchmarks", "judge", "embedding")
PROVIDER_KEYS = _field_names(ProviderConfig, drop=["name"])
MODEL_KEYS = _field_names(ModelConfig)
PRICE_KEYS = _field_names(Price)
BENCHMARK_KEYS = _field_names(BenchmarkConfig)
EMBEDDING_KEYS = _field_names(EmbeddingConfig)
HINTS = {
    "api_key": "API keys never go in avp.toml: export the key and name the variable "
    "with api_key_env",
}

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _providers(root: _Table) -> dict[str, ProviderConfig]:
    providers = builtin_providers()
    table = root.table("providers")
    if table is None:
        return providers
    for name in table.data:
        entry = table.table(name, required=True)
        assert entry is not None
        entry.only(PROVIDER_KEYS, HINTS)
        builtin = providers.get(name)
        if builtin is None and "base_url" not in entry.data:
            raise entry.error("base_url", "required (the provider's OpenAI-compatible API URL)")
        base = builtin or ProviderConfig(name=name, base_url="")
        api_key_env = entry.opt_string("api_key_env", base.api_key_env)
        if api_key_env is not None and not ENV_NAME.fullmatch(api_key_env):
            # Never echo the value: a pasted key must not end up in a terminal log.
            raise entry.error(
                "api_key_env",
                "must be the NAME of an environment variable (letters, digits, _); "
                "the key itself never goes in avp.toml",
            )
        base_url = _url(entry, entry.string("base_url", base.base_url))
        concurrency = base.max_concurrency
        if builtin is None and is_local_url(base_url):
            concurrency = LOCAL_MAX_CONCURRENCY
        providers[name] = ProviderConfig(
            name=name,
            base_url=base_url,
            api_key_env=api_key_env,
            max_concurrency=entry.integer("max_concurrency", concurrency, minimum=1),
            rpm=entry.opt_int("rpm", base.rpm, minimum=1),
            tpm=entry.opt_int("tpm", base.tpm, minimum=1),
            timeout_s=entry.number("timeout_s", base.timeout_s, above=0.0),
            max_attempts=entry.integer("max_attempts", base.max_attempts, minimum=1),
            request_cost=entry.boolean("request_cost", base.request_cost),
            headers=_headers(entry, base.headers),
        )
    return providers


# A server on this machine usually generates a few requests at a time (llama.cpp's default slots,
# Ollama's OLLAMA_NUM_PARALLEL), often one: 16 in flight would queue, time out and be generated
# anyway. Timeouts lower the bound further (collect/limits.py); a batching server such as vLLM
# wants `max_concurrency = 64` set explicitly.
LOCAL_MAX_CONCURRENCY = 4


def is_local_url(url: str) -> bool:
    """Whether a base URL points at this machine (localhost, 127.0.0.0/8, ::1, 0.0.0.0)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1", "0.0.0.0") or host.startswith("127.")


def _url(table: _Table, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise table.error("base_url", f"must be an http(s) URL, got {url!r}")
    return url.rstrip("/")


def _headers(table: _Table, default: Mapping[str, str]) -> dict[str, str]:
    headers = table.table("headers")
    if headers is None:
        return dict(default)
    result = dict(default)
    for name in headers.data:
        result[name] = headers.string(name)
    return result


def _models(root: _Table, providers: Mapping[str, ProviderConfig]) -> tuple[ModelConfig, ...]:
    models: list[ModelConfig] = []
    first_seen: dict[str, str] = {}
    same: dict[str, str] = {}  # identity -> id
    for entry in root.tables("models"):
        model = _model(entry, providers)
        if model.id in first_seen:
            raise entry.error(
                "id", f"duplicate model id {model.id!r} (also {first_seen[model.id]})"
            )
        first_seen[model.id] = entry.key
        # A model IS its provider route, model name and generation parameters; the id is its
        # label. Two ids for one configuration would share (and split) the same cells.
        identity = canonical_json({"provider": model.provider, **model.generation_params()})
        if identity in same:
            raise entry.error(
                "id", f"{model.id!r} has the same provider, model and parameters as "
                f"{same[identity]!r}: one model under two ids (give it other parameters, or "
                "rename the first instead)"
            )
        same[identity] = model.id
        models.append(model)
    return tuple(models)


def _model(
    entry: _Table, providers: Mapping[str, ProviderConfig], *, judge: bool = False
) -> ModelConfig:
    entry.only(MODEL_KEYS)
    model_id = entry.string("id")
    if not model_id.strip() or model_id != model_id.strip():
        raise entry.error(
            "id", f"must be a non-empty label without surrounding spaces: {model_id!r}"
        )
    provider = entry.string("provider")
    if provider not in providers:
        known = ", ".join(sorted(providers))
        raise entry.error("provider", f"unknown provider {provider!r} (known: {known})")
    temperature = entry.number("temperature", 0.0, minimum=0.0, maximum=2.0)
    if judge and temperature != 0.0:
        raise entry.error("temperature", "the judge is pinned at temperature 0; remove the key")
    effort = entry.opt_string("reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise entry.error(
            "reasoning_effort", f"must be one of {', '.join(REASONING_EFFORTS)}, got {effort!r}"
        )
    extra = entry.table("extra_body")
    if extra is not None:
        for key in RESERVED_BODY_KEYS:
            if key in extra.data:
                raise extra.error(key, "set by the harness; it cannot be overridden in extra_body")
    price = entry.table("price")
    return ModelConfig(
        id=model_id,
        provider=provider,
        model=entry.string("model", model_id),
        temperature=temperature,
        max_tokens=entry.opt_int("max_tokens", minimum=1),
        reasoning_effort=effort,
        extra_body=dict(extra.data) if extra is not None else {},
        price=_price(price) if price is not None else None,
    )


def _price(table: _Table) -> Price:
    table.only(PRICE_KEYS)
    raw_date = table.data.get("date", "")
    if isinstance(raw_date, dt.date) and not isinstance(raw_date, dt.datetime):
        date = raw_date.isoformat()
    else:
        date = table.string("date", "")
        if date:
            try:
                dt.date.fromisoformat(date)
            except ValueError:
                raise table.error("date", f"must be an ISO date YYYY-MM-DD, got {date!r}") from None
    return Price(
        input_per_m=table.number("input_per_m", minimum=0.0),
        output_per_m=table.number("output_per_m", minimum=0.0),
        cached_input_per_m=table.opt_float("cached_input_per_m", minimum=0.0),
        date=date,
    )


def _benchmarks(root: _Table, base: Path | None) -> tuple[BenchmarkConfig, ...]:
    from benchmarks import names as benchmark_names  # lazy: the registry lists, loads no data

    known = benchmark_names()
    result: list[BenchmarkConfig] = []
    first_seen: dict[str, str] = {}
    for entry in root.tables("benchmarks"):
        entry.only(BENCHMARK_KEYS)
        name = entry.string("name")
        if name not in known:
            raise entry.error("name", f"unknown benchmark {name!r} (known: {', '.join(known)})")
        if name in first_seen:
            raise entry.error(
                "name", f"benchmark {name!r} is listed twice (also {first_seen[name]})"
            )
        first_seen[name] = entry.key
        limit = entry.opt_int("limit", minimum=0)
        sample = entry.opt_int("sample", minimum=0)
        if limit is not None and sample is not None:
            raise entry.error("sample", "set either limit or sample, not both")
        source = entry.opt_string("source")
        if source is not None and not source.strip():
            raise entry.error("source", "must not be empty (omit it for the default data)")
        result.append(
            BenchmarkConfig(
                name=name,
                source=_anchor(source, base) if source is not None else None,
                limit=limit,
                sample=sample,
                seed=entry.integer("seed", 0),
                samples=entry.integer("samples", 1, minimum=1),
                temperature=(entry.number("temperature", minimum=0.0, maximum=2.0)
                             if "temperature" in entry.data else None),
            )
        )
    return tuple(result)


def _embedding(root: _Table, providers: Mapping[str, ProviderConfig]) -> EmbeddingConfig:
    table = root.table("embedding")
    if table is None:
        return EmbeddingConfig()
    table.only(EMBEDDING_KEYS)
    default = EmbeddingConfig()
    backend = table.string("backend", default.backend)
    if backend not in EMBEDDING_BACKENDS:
        raise table.error(
            "backend", f"must be one of {', '.join(EMBEDDING_BACKENDS)}, got {backend!r}"
        )
    provider = table.opt_string("provider")
    if provider is not None and provider not in providers:
        known = ", ".join(sorted(providers))
        raise table.error("provider", f"unknown provider {provider!r} (known: {known})")
    if backend == "api" and provider is None:
        raise table.error("provider", 'required when backend = "api"')
    return EmbeddingConfig(
        backend=backend,
        model=table.string("model", default.model),
        provider=provider,
        max_chars=table.integer("max_chars", default.max_chars, minimum=1),
    )


# --------------------------------------------------------------------------------------------
# Reading one table with dotted-path errors
# --------------------------------------------------------------------------------------------

_MISSING: Any = object()


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


class _Table:
    """One TOML table being read: knows its file and dotted key, so errors can name both."""

    data: dict[str, Any]

    def __init__(self, file: str, key: str, data: Any) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(file, key, f"must be a table, got {_kind(data)}")
        self.file, self.key = file, key
        # TOML has no null; in dicts built in code (config_from_dict) None means "not set".
        self.data = {name: value for name, value in data.items() if value is not None}

    def path(self, name: str) -> str:
        return f"{self.key}.{_key_part(name)}" if self.key else _key_part(name)

    def error(self, name: str, reason: str) -> ConfigError:
        return ConfigError(self.file, self.path(name), reason)

    def only(self, allowed: Iterable[str], hints: Mapping[str, str] | None = None) -> None:
        """Reject keys this table does not define (typos must not be silently ignored)."""
        allowed = tuple(allowed)
        for name in self.data:
            if name not in allowed:
                hint = (hints or {}).get(name) or f"expected one of: {', '.join(allowed)}"
                raise self.error(name, f"unknown key; {hint}")

    def _get(self, name: str, default: Any) -> Any:
        if name in self.data:
            return self.data[name]
        if default is _MISSING:
            raise self.error(name, "required")
        return default

    def string(self, name: str, default: Any = _MISSING) -> str:
        value = self._get(name, default)
        if not isinstance(value, str):
            raise self.error(name, f"must be a string, got {_kind(value)}")
        return value

    def opt_string(self, name: str, default: str | None = None) -> str | None:
        return None if name not in self.data and default is None else self.string(name, default)

    def integer(self, name: str, default: Any = _MISSING, *, minimum: int | None = None) -> int:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"must be an integer, got {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be >= {minimum}, got {value}")
        return value

    def opt_int(
        self, name: str, default: int | None = None, *, minimum: int | None = None
    ) -> int | None:
        if name not in self.data and default is None:
            return None
        return self.integer(name, default, minimum=minimum)

    def number(
        self,
        name: str,
        default: Any = _MISSING,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
    ) -> float:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(name, f"must be a number, got {_kind(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise self.error(name, f"must be a finite number, got {value}")
        if minimum is not None and maximum is not None and not minimum <= value <= maximum:
            raise self.error(name, f"must be between {minimum:g} and {maximum:g}, got {value:g}")
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be >= {minimum:g}, got {value:g}")
        if above is not None and value <= above:
            raise self.error(name, f"must be > {above:g}, got {value:g}")
        return value

    def opt_float(self, name: str, *, minimum: float | None = None) -> float | None:
        return self.number(name, minimum=minimum) if name in self.data else None

    def boolean(self, name: str, default: Any = _MISSING) -> bool:
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"must be true or false, got {_kind(value)}")
        return value

    def table(self, name: str, *, required: bool = False) -> _Table | None:
        if name not in self.data:
            if required:
                raise self.error(name, "required")
            return None
        return _Table(self.file, self.path(name), self.data[name])

    def tables(self, name: str) -> list[_Table]:
        """An array of tables (`[[name]]`), each element keyed `name[i]`."""
        value = self.data.get(name, [])
        if not isinstance(value, list):
            raise self.error(name, f"must be an array of tables ([[{name}]]), got {_kind(value)}")
        return [_Table(self.file, f"{self.path(name)}[{i}]", item) for i, item in enumerate(value)]


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
# Embedding: how routers embed the query text.
# ---------------------------------------------------------------------------------------------

[embedding]
backend = "local"              # local (sentence-transformers) | tfidf (offline, no weights) | api
model = "all-MiniLM-L6-v2"     # embedding model for the local or api backend
# provider = "openai"          # required when backend = "api"
max_chars = 2000               # keep the last N characters of each query (the question)
"""
