"""`avp doctor PROVIDER`: one short probe per configured model, before spending a run on it.

Each probe is one chat completion with the model's own parameters (max_tokens capped), no retry.
It shows what came back as it came back (so a wrong chat template shows as stray markup), the
tokens, the request latency, the finish reason and the server's own timing when it reports one;
a llama.cpp server's `/props` adds its chat template and slots.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from avp_harness.cli import add_config_argument
from avp_harness.errors import ConfigError

PROBE = "Reply with the single word OK."
PROBE_MAX_TOKENS = 64
# Chat-template markup in a reply means the server rendered the prompt with the wrong template.
TEMPLATE_MARKERS = ("<start_of_turn>", "<end_of_turn>", "<|im_start|>", "<|im_end|>", "[INST]",
                    "[/INST]", "<|eot_id|>", "<|start_header_id|>", "<|user|>", "<|assistant|>",
                    "### Instruction", "<s>", "</s>")

EPILOG = """\
examples:
  avp doctor llamacpp            probe every model of provider 'llamacpp' in ./avp.toml
  avp doctor local --json        the same, as JSON

Exit codes: 0 every probe answered, 1 some probe failed, 2 bad input (unknown provider).
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    doctor = subparsers.add_parser(
        "doctor",
        help="send one short probe to each model of a provider and show what comes back",
        description="Check a provider before a run: one short chat completion per configured "
        "model of PROVIDER (no retry), showing the reply as received, tokens, request latency, "
        "finish reason and the server's own timing; and, for a llama.cpp server, its chat "
        "template and slots (GET /props).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    doctor.add_argument("provider", metavar="PROVIDER", help="a provider name from avp.toml")
    add_config_argument(doctor)
    doctor.add_argument("--json", action="store_true", help="print the probes as JSON")
    doctor.set_defaults(func=cmd_doctor)


def _probe_model(model: Any) -> Any:
    """The model with its own parameters, max_tokens capped so a probe stays short."""
    cap = PROBE_MAX_TOKENS if model.max_tokens is None else min(model.max_tokens, PROBE_MAX_TOKENS)
    return dataclasses.replace(model, max_tokens=cap)


async def _probe(gateway: Any, model: Any) -> dict[str, Any]:
    from avp_harness.gateway.client import server_root

    result: dict[str, Any] = {"model": model.id, "sent_as": model.model}
    call = await gateway.complete(_probe_model(model), [{"role": "user", "content": PROBE}],
                                  max_attempts=1)
    completion = call.completion
    if completion is None:  # one line per failed probe, never a traceback
        message = call.decision.message
        url = gateway.config.provider_for(model).base_url
        result["error"] = message if server_root(url) in message else f"{url}: {message}"
        return result
    markup = [m for m in TEMPLATE_MARKERS if m in completion.text]
    result |= {
        "reply": completion.text,
        "prompt_tokens": completion.usage.prompt_tokens,
        "completion_tokens": completion.usage.completion_tokens,
        "request_latency_s": round(completion.latency_s, 3),
        "server_time_s": None if completion.server_time_s is None
        else round(completion.server_time_s, 3),
        "finish_reason": completion.finish_reason,
        "template_markup": markup,
    }
    return result


async def _doctor(
    config: Any, provider: Any, models: list[Any]
) -> tuple[list[dict[str, Any]], Any]:
    import asyncio  # here, not at module level: `avp --help` starts faster

    from avp_harness.gateway import Gateway
    from avp_harness.gateway.client import fetch_props

    gateway = Gateway(config)
    try:
        props = await asyncio.to_thread(fetch_props, provider.base_url, provider.timeout_s)
        probes = [await _probe(gateway, model) for model in models]  # one at a time: a probe
    finally:
        await gateway.close()
    return probes, props


def cmd_doctor(args: argparse.Namespace) -> int:
    import asyncio  # here, not at module level: `avp --help` starts faster

    from avp_harness.config import load_config

    config = load_config(args.config)
    provider = config.providers.get(args.provider)
    if provider is None:
        raise ConfigError(config.file_label(), "providers",
                          f"unknown provider {args.provider!r} "
                          f"(known: {', '.join(sorted(config.providers))})")
    models = [m for m in config.models if m.provider == provider.name]
    if not models:
        raise ConfigError(config.file_label(), "models",
                          f"no model is configured with provider {provider.name!r}")
    provider.api_key()  # a missing key: one line before any call
    probes, props = asyncio.run(_doctor(config, provider, models))
    if args.json:
        print(json.dumps({"provider": provider.name, "base_url": provider.base_url,
                          "props": _props_summary(props), "probes": probes}, indent=2))
    else:
        _print(provider, probes, props)
    return 1 if any("error" in p for p in probes) else 0


def _props_summary(props: dict[str, Any] | None) -> dict[str, Any] | None:
    if props is None:
        return None
    settings = props.get("default_generation_settings") or {}
    return {
        "chat_template": props.get("chat_template"),
        "total_slots": props.get("total_slots"),
        "n_ctx": settings.get("n_ctx") if isinstance(settings, dict) else None,
    }


def _print(provider: Any, probes: list[dict[str, Any]], props: dict[str, Any] | None) -> None:
    out = sys.stdout
    print(f"provider {provider.name}: {provider.base_url} (max_concurrency "
          f"{provider.max_concurrency}, timeout {provider.timeout_s:g}s)", file=out)
    summary = _props_summary(props)
    if summary is None and all("error" in p for p in probes):
        pass  # nothing answered: the probes below say why
    elif summary is None:
        print("  no /props endpoint (not a llama.cpp server): check the chat template in the "
              "server's own documentation or logs", file=out)
    else:
        template = summary["chat_template"]
        print(f"  server slots {summary['total_slots']}, context {summary['n_ctx']} tokens",
              file=out)
        if template:
            first = template.strip().splitlines()[0][:160]
            print(f"  chat template ({len(template)} chars): {first}", file=out)
        else:
            print("  chat template: NONE (the server falls back to a generic prompt format; "
                  "give it one, e.g. llama-server --jinja or --chat-template NAME)", file=out)
        slots = summary["total_slots"]
        if isinstance(slots, int) and slots < provider.max_concurrency:
            print(f"  note: {slots} slot(s) but max_concurrency {provider.max_concurrency}: "
                  "requests beyond the slots queue at the server", file=out)
    for probe in probes:
        if "error" in probe:
            print(f"{probe['model']}: FAILED {probe['error']}", file=out)
            continue
        timing = (f", server {probe['server_time_s']:.2f}s"
                  if probe["server_time_s"] is not None else "")
        print(f"{probe['model']} (sent as {probe['sent_as']}): finish {probe['finish_reason']}, "
              f"{probe['prompt_tokens']} prompt + {probe['completion_tokens']} completion tokens, "
              f"request {probe['request_latency_s']:.2f}s{timing}", file=out)
        print(f"  reply: {probe['reply']!r}", file=out)
        if probe["template_markup"]:
            print(f"  warning: the reply contains chat-template markup "
                  f"({', '.join(probe['template_markup'])}): the server may be using the wrong "
                  "chat template", file=out)
        if probe["finish_reason"] == "length":
            print(f"  note: cut at {PROBE_MAX_TOKENS} tokens by the probe (a reasoning model "
                  "may need more); runs use the model's own max_tokens", file=out)
