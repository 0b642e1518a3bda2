"""`avp run`'s inspect-style options: the run's config from avp.toml (if any) plus the command line.

    avp run --model openrouter/qwen/qwen3-235b-a22b --benchmarks gpqa,aime --limit 50

The options edit the parsed TOML (or an empty one when there is no avp.toml) and the result is
validated by `config_from_dict` like any file, so `--model PROVIDER/NAME` is exactly the
`[[models]]` entry `id = "NAME"`, `provider = "PROVIDER"`: same identity, same fingerprints, the
same cells. A `--model` that avp.toml already lists (same provider and model name) is that entry,
with its id and price. Generation options (`--temperature`, `--max-tokens`, `--reasoning-effort`)
apply to every model of the run, and being generation parameters they make new cells; provider
options (`--model-base-url`, `--max-connections`, `--timeout`) and item options (`--limit`,
`--sample-id`, `--epochs`) do not change any fingerprint.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path
from typing import Any

from avp_harness.cli import NamesAction
from avp_harness.errors import ConfigError
from avp_harness.names import REASONING_EFFORTS

WHERE = "command line"


def _number(text: str, *, low: float, high: float = math.inf, strict_low: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    too_low = value <= low if strict_low else value < low
    if not math.isfinite(value) or too_low or value > high:
        bound = f"> {low:g}" if strict_low else f">= {low:g}"
        if high != math.inf:
            bound = f"between {low:g} and {high:g}"
        raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text!r}")
    return value


def temperature(text: str) -> float:
    return _number(text, low=0.0, high=2.0)


def seconds(text: str) -> float:
    return _number(text, low=0.0, strict_low=True)


def positive(text: str) -> int:
    if not re.fullmatch(r"\s*\d+\s*", text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return int(text)


def item_range(text: str) -> tuple[int, int | None]:
    """`--limit N` -> (0, N); `--limit A-B` -> (A-1, B-A+1): items A..B, 1-based, inclusive."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected N or A-B (items A to B), got {text!r}")
    first, last = int(match.group(1)), match.group(2)
    if last is None:
        return 0, first
    if first < 1 or int(last) < first:
        raise argparse.ArgumentTypeError(f"expected A-B with 1 <= A <= B, got {text!r}")
    return first - 1, int(last) - first + 1


def model_spec(text: str) -> str:
    """`PROVIDER/NAME[,PROVIDER/NAME...]`, each with a provider and a name."""
    for spec in (part.strip() for part in text.split(",") if part.strip()):
        provider, _, name = spec.partition("/")
        if not provider or not name.strip("/"):
            raise argparse.ArgumentTypeError(
                f"expected PROVIDER/NAME (e.g. openrouter/qwen/qwen3-235b-a22b), got {spec!r}")
    return text


def add_run_options(run: argparse.ArgumentParser) -> None:
    """The one-liner options of `avp run` (see the module docstring)."""
    group = run.add_argument_group(
        "one-liners (inspect-style; with or without avp.toml)")
    group.add_argument(
        "--model", nargs="+", action=NamesAction, type=model_spec, default=None,
        metavar="PROVIDER/NAME",
        help="model(s) to run instead of avp.toml's, e.g. openrouter/qwen/qwen3-235b-a22b, "
        "comma- or space-separated; the same cells as the avp.toml entry "
        "id = NAME, provider = PROVIDER")
    group.add_argument(
        "--model-base-url", metavar="URL",
        help="base URL of --model's provider (a new provider name with it makes a provider; "
        "its key, if any, is read from $PROVIDER_API_KEY)")
    group.add_argument("--temperature", type=temperature, help="sampling temperature, 0..2")
    group.add_argument("--max-tokens", type=positive, help="cap on output tokens")
    group.add_argument("--reasoning-effort", choices=REASONING_EFFORTS)
    group.add_argument("--max-connections", type=positive, metavar="N",
                       help="calls in flight at once per provider (max_concurrency)")
    group.add_argument("--timeout", type=seconds, metavar="SECONDS",
                       help="seconds before one HTTP call is abandoned and retried (timeout_s)")
    group.add_argument("--limit", type=item_range, metavar="N|A-B",
                       help="the first N items of each benchmark, or items A to B (1-based)")
    group.add_argument("--sample-id", nargs="+", action=NamesAction, default=None,
                       metavar="ID", help="only the items with these ids, comma- or "
                       "space-separated")
    group.add_argument("--epochs", type=positive, metavar="N",
                       help="completions per item (the benchmarks' `samples`)")


def run_config(args: argparse.Namespace) -> Any:
    """The Config `avp run` evaluates: avp.toml (when there is one, or when --config names it)
    edited by the options, validated like a file."""
    from avp_harness.config import _read_toml, builtin_providers, config_from_dict, config_path

    path = config_path(args.config)
    explicit = bool(args.config or os.environ.get("AVP_CONFIG"))
    if path.exists() or explicit or not args.model:
        data: dict[str, Any] = _read_toml(path)  # a missing file says "create one with avp init"
        file: Path | None = path
    else:
        data, file = {}, None
        if not args.benchmarks:
            raise ConfigError(WHERE, "--benchmarks", f"no {path} here: name the benchmarks to "
                              "run, e.g. --benchmarks gpqa,aime (`avp benchmarks list`)")
    known_providers = set(builtin_providers()) | set(data.get("providers") or {})
    if args.model:
        data["models"] = _models(data.get("models") or [], args, known_providers)
    elif args.model_base_url:
        raise ConfigError(WHERE, "--model-base-url", "goes with --model PROVIDER/NAME")
    for model in data.get("models") or []:
        if isinstance(model, dict):
            _set(model, temperature=args.temperature, max_tokens=args.max_tokens,
                 reasoning_effort=args.reasoning_effort)
    data["benchmarks"] = _benchmarks(data.get("benchmarks") or [], args)
    _providers(data, args)
    config = config_from_dict(data, file)
    return _only_models(config, args.models)


def _set(table: dict[str, Any], **values: Any) -> None:
    table.update({key: value for key, value in values.items() if value is not None})


def _models(entries: list[Any], args: argparse.Namespace, providers: set[str]) -> list[Any]:
    specs = list(args.model)
    named = {spec.partition("/")[0] for spec in specs}
    if args.model_base_url and len(named) > 1:
        raise ConfigError(WHERE, "--model-base-url", "--model names several providers "
                          f"({', '.join(sorted(named))}): give one base URL per run")
    models: list[dict[str, Any]] = []
    for spec in dict.fromkeys(specs):
        provider, _, name = spec.partition("/")
        if provider not in providers and not args.model_base_url:
            raise ConfigError(WHERE, "--model", f"unknown provider {provider!r} in {spec!r} "
                              f"(known: {', '.join(sorted(providers))}); a new one needs "
                              "--model-base-url")
        entry = _configured(entries, provider, name, args)
        if entry is None:
            entry = {"id": name, "provider": provider}
        if any(m["id"] == entry["id"] for m in models):  # one name through two providers
            entry = {**entry, "id": spec}
        models.append(entry)
    return models


def _configured(entries: list[Any], provider: str, name: str,
                args: argparse.Namespace) -> dict[str, Any] | None:
    """avp.toml's entry for this provider and model name (a copy), preferring one whose own
    parameters agree with the options; None when it lists none."""
    found = [dict(e) for e in entries if isinstance(e, dict) and e.get("provider") == provider
             and (e.get("model") or e.get("id")) == name]
    given = {"temperature": args.temperature, "max_tokens": args.max_tokens,
             "reasoning_effort": args.reasoning_effort}
    defaults = {"temperature": 0.0, "max_tokens": None, "reasoning_effort": None}
    for entry in found:
        if all(value is None or entry.get(key, defaults[key]) == value
               for key, value in given.items()):
            return entry
    return found[0] if found else None


def _benchmarks(entries: list[Any], args: argparse.Namespace) -> list[Any]:
    if args.benchmarks:
        chosen = [_benchmark_name(name) for name in args.benchmarks]
        by_name = {e.get("name"): e for e in entries if isinstance(e, dict)}
        entries = [dict(by_name.get(name) or {"name": name}) for name in dict.fromkeys(chosen)]
    else:
        entries = [dict(e) if isinstance(e, dict) else e for e in entries]
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        if args.limit is not None:
            entry.pop("sample", None)
            entry["offset"], entry["limit"] = args.limit
        if args.sample_id:
            entry["ids"] = list(args.sample_id)
        _set(entry, samples=args.epochs)
    return entries


def _benchmark_name(name: str) -> str:
    """A registered benchmark name, or the one it is the unique start of (`gpqa`)."""
    import benchmarks

    known = benchmarks.names()
    if name in known:
        return name
    matches = [k for k in known if k.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    options = ", ".join(matches) if matches else ", ".join(known)
    reason = "ambiguous" if matches else "unknown benchmark"
    raise ConfigError(WHERE, "--benchmarks", f"{reason} {name!r} (known: {options})")


def _providers(data: dict[str, Any], args: argparse.Namespace) -> None:
    """--model-base-url, --max-connections and --timeout on the providers the run calls."""
    tables = data.setdefault("providers", {})
    if not isinstance(tables, dict):
        return  # validation says what is wrong with the file's table
    if args.model_base_url:
        provider = args.model[0].partition("/")[0]
        table = tables.setdefault(provider, {})
        table["base_url"] = args.model_base_url
        key_env = re.sub(r"\W", "_", provider).upper() + "_API_KEY"
        from avp_harness.config import builtin_providers

        if provider not in builtin_providers() and "api_key_env" not in table \
                and os.environ.get(key_env):
            table["api_key_env"] = key_env
    used = {m.get("provider") for m in data.get("models") or [] if isinstance(m, dict)}
    for name in sorted(p for p in used if isinstance(p, str)):
        if args.max_connections is not None or args.timeout is not None:
            _set(tables.setdefault(name, {}), max_concurrency=args.max_connections,
                 timeout_s=args.timeout)
    if not tables:
        del data["providers"]


def _only_models(config: Any, names: list[str] | None) -> Any:
    """`--models a,b`: the run's models restricted to these ids."""
    if not names:
        return config
    from dataclasses import replace

    known = [m.id for m in config.models]
    wanted = set(names)
    for name in sorted(wanted - set(known)):
        raise ConfigError(config.file_label(), "--models",
                          f"{name!r} is not configured (configured: {', '.join(known)})")
    return replace(config, models=tuple(m for m in config.models if m.id in wanted))
