"""`avp init` and `avp models add|list`: write and inspect avp.toml.

Thin by design: arguments are turned into `avp_harness.config` calls, whose ConfigErrors the CLI
prints as one line on stderr (exit code 2).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import tomllib
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from avp_harness.cli import add_config_argument
from avp_harness.errors import ConfigError
from avp_harness.names import REASONING_EFFORTS

if TYPE_CHECKING:  # avp_harness.config (pydantic) loads when a command runs
    from avp_harness.config import Config, ModelConfig, Price

INIT_EPILOG = """\
examples:
  avp init                         write ./avp.toml (or $AVP_CONFIG) with commented defaults
  avp init --path lab/avp.toml     write it elsewhere (folders are created)
  avp init --force                 overwrite an existing file

The file uses OpenRouter (key in $OPENROUTER_API_KEY), three example models with placeholder
prices, arc_agi (50 tasks) and humaneval, a judge and a $5 budget. Edit it, then `avp run`.
"""

MODELS_EPILOG = """\
examples:
  avp models list
  avp models add anthropic/claude-sonnet-4.5 --provider openrouter
  avp models add local/qwen --provider vllm --model Qwen/Qwen2.5-7B-Instruct
"""

ADD_EPILOG = """\
examples:
  avp models add anthropic/claude-sonnet-4.5 --provider openrouter \\
      --price-in 3 --price-out 15 --price-date 2025-10-01
  avp models add openai/gpt-5 --provider openai --model gpt-5 --reasoning-effort high
  avp models add local/qwen --provider vllm --model Qwen/Qwen2.5-7B-Instruct --max-tokens 4096
  avp models add x/y --provider openrouter --extra-body '{"provider": {"order": ["groq"]}}'

The model is appended as a [[models]] table; the rest of the file (comments included) is kept.
The file is only replaced if it still loads, so a rejected model leaves it untouched.
Prices are dollars per million tokens; reasoning tokens are billed as output.
"""

LIST_EPILOG = """\
examples:
  avp models list                    table of id, provider, model, parameters and prices
  avp models list --json | jq '.[].id'
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `init` and `models {add,list}` to the `avp` parser."""
    init = subparsers.add_parser(
        "init",
        help="write a commented avp.toml to start from",
        description="Write a complete, commented avp.toml (providers, models, prices, "
        "benchmarks, judge, embedding, budget). Refuses to overwrite without --force.",
        epilog=INIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    init.add_argument(
        "--path", default=None, help="where to write (default: $AVP_CONFIG or ./avp.toml)"
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(func=cmd_init)

    models = subparsers.add_parser(
        "models",
        help="list or add the candidate models in avp.toml",
        description="List the models configured in avp.toml, or append one.",
        epilog=MODELS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="append a [[models]] table to avp.toml",
        description="Append a model to avp.toml, keeping the file's text and comments.",
        epilog=ADD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("id", metavar="ID", help="label in the store and reports, e.g. openai/gpt-5")
    add.add_argument(
        "--provider", required=True, help="provider name (openrouter, openai or one in the file)"
    )
    add.add_argument("--model", default=None, help="name sent to the API (default: ID)")
    add.add_argument("--temperature", type=float, default=0.0, help="0..2 (default 0)")
    add.add_argument("--max-tokens", type=int, default=None, help="output token cap")
    add.add_argument(
        "--reasoning-effort", choices=REASONING_EFFORTS, default=None, help="reasoning effort"
    )
    add.add_argument(
        "--extra-body", default=None, metavar="JSON", help="JSON object merged into the request"
    )
    add.add_argument("--price-in", type=float, default=None, metavar="X", help="$ per 1M input")
    add.add_argument("--price-out", type=float, default=None, metavar="Y", help="$ per 1M output")
    add.add_argument(
        "--price-cached-in", type=float, default=None, metavar="Z", help="$ per 1M cached input"
    )
    add.add_argument(
        "--price-date", default=None, metavar="D", help="YYYY-MM-DD the prices were read"
    )
    add_config_argument(add)
    add.set_defaults(func=cmd_models_add)

    listing = actions.add_parser(
        "list",
        help="show the configured models",
        description="Show the models in avp.toml with their parameters and prices.",
        epilog=LIST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_argument(listing)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=cmd_models_list)


def cmd_init(args: argparse.Namespace) -> int:
    """Write the template, refusing to clobber an existing file unless --force."""
    from avp_harness.config import config_from_dict, config_path, template

    path = config_path(args.path)
    if path.exists() and not args.force:
        raise ConfigError(str(path), "", "already exists; use --force to overwrite it")
    if path.is_dir():
        raise ConfigError(str(path), "", "is a folder; give a file path")
    text = template()
    config = config_from_dict(tomllib.loads(text), path, env={})  # the template always loads
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot write: {exc.strerror or exc}") from exc
    print(
        f"wrote {path} ({len(config.models)} models, {len(config.benchmarks)} benchmarks, "
        f"budget ${config.budget or 0:.2f})"
    )
    print(
        "next: export OPENROUTER_API_KEY=..., review the models and prices in the file, "
        "then run `avp run`"
    )
    return 0


def cmd_models_add(args: argparse.Namespace) -> int:
    """Build a ModelConfig from the options and append it to the config file."""
    from avp_harness.config import ModelConfig, add_model, config_path

    path = config_path(args.config)
    model = ModelConfig(
        id=args.id,
        provider=args.provider,
        model=args.model or args.id,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        reasoning_effort=args.reasoning_effort,
        extra_body=_extra_body(args.extra_body),
        price=_price(args),
    )
    add_model(path, model)
    print(f"added {model.id} to {path} (provider {model.provider}, model {model.model})")
    return 0


def _extra_body(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError("command line", "--extra-body", f"not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise ConfigError("command line", "--extra-body", "must be a JSON object {...}")
    return value


def _price(args: argparse.Namespace) -> Price | None:
    from avp_harness.config import Price

    given = {
        "--price-in": args.price_in,
        "--price-out": args.price_out,
        "--price-cached-in": args.price_cached_in,
        "--price-date": args.price_date,
    }
    if all(value is None for value in given.values()):
        return None
    for option in ("--price-in", "--price-out"):
        if given[option] is None:
            raise ConfigError("command line", option, "required when any --price-* is given")
    return Price(
        input_per_m=args.price_in,
        output_per_m=args.price_out,
        cached_input_per_m=args.price_cached_in,
        date=args.price_date or "",
    )


def cmd_models_list(args: argparse.Namespace) -> int:
    """Print the models as a rich table, or as JSON with --json."""
    from avp_harness.config import load_config

    config = load_config(args.config)
    if args.json:
        print(json.dumps([asdict(model) for model in config.models], indent=2))
        return 0
    if not config.models:
        print(f"no models in {config.path}; add one with `avp models add ID --provider P`")
        return 0
    _print_table(config)
    return 0


def _print_table(config: Config) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"models in {config.path}", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("provider", no_wrap=True)
    for column in ("model", "params", "price $/1M in / out"):
        table.add_column(column, overflow="fold")
    for model in config.models:
        table.add_row(
            model.id,
            model.provider,
            model.model,
            _params(model),
            _prices(model.price, reported=config.provider_for(model).request_cost),
        )
    if config.judge is not None:
        table.caption = f"judge: {config.judge.id} via {config.judge.provider} (temperature 0)"
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=160)  # piped: do not fold ids into an 80-column box
    console.print(table)


def _params(model: ModelConfig) -> str:
    parts = [f"temperature {model.temperature:g}"]
    if model.max_tokens is not None:
        parts.append(f"max_tokens {model.max_tokens}")
    if model.reasoning_effort is not None:
        parts.append(f"effort {model.reasoning_effort}")
    if model.extra_body:
        parts.append("extra_body " + json.dumps(dict(model.extra_body), sort_keys=True))
    return ", ".join(parts)


def _prices(price: Price | None, *, reported: bool) -> str:
    if price is None:
        return "reported by provider" if reported else "unknown"
    text = f"{price.input_per_m:g} / {price.output_per_m:g}"
    if price.cached_input_per_m is not None:
        text += f" (cached {price.cached_input_per_m:g})"
    return f"{text} @ {price.version}"
