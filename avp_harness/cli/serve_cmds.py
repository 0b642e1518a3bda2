"""`avp serve` (a fitted router as an OpenAI-compatible endpoint) and `avp served` (what it
served: spend and the model mix over time).

avp serve main --port 8000
avp serve main --target-accuracy 0.95
avp served --hours 24 --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from avp_harness.cli import add_config_argument, add_db_argument, resolve_db
from avp_harness.errors import ConfigError, RouterError

SERVE_EPILOG = """\
examples:
  avp serve main                          the router at its own alpha on 127.0.0.1:8000
  avp serve main --alpha 0.3 --port 9000
  avp serve main --target-accuracy 0.95   the cheapest alpha keeping 95% of the best model's
                                          held-out accuracy (printed with its figures)
  avp serve main --target-cost 0.5        the most accurate alpha at <= 50% of its dollars
  AVP_SERVE_KEY=secret avp serve main --api-key-env AVP_SERVE_KEY   clients must send the token
  avp serve av --strategy model_switch    an Avengers router: 5 samples of its top 2 models
  avp serve js                            a JiSi router: the full method (candidates, aggregator)

model names: avp/<router> (the served alpha), avp/<router>@<alpha>, or any configured model id
(sent to it as is). A routed request is embedded by its last user message, the way the router's
training queries were. Every request is recorded in the store: see `avp served`.

ensemble routers (kinds avengers and jisi) make several calls per request, all through the
gateway; the reply is the chosen message, its `avp` field and x-avp-* headers the decision, the
calls and the dollars of all of them. Their votes read answers the way a benchmark does when the
request names one (extra_body={"avp": {"benchmark": "math500"}} or an x-avp-benchmark header),
else by the generic rule (whitespace-normalised text). README: "avp serve".
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve a fitted router as an OpenAI-compatible endpoint",
        description="Route each chat completion with a fitted router and forward it whole "
        "(streaming, tools, response_format) to the chosen configured model.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("router", help="a fitted router (avp routers list)")
    pick = serve.add_mutually_exclusive_group()
    pick.add_argument("--alpha", type=float, default=None,
                      help="trade-off in [0, 1] for avp/<router> (default: the router's)")
    pick.add_argument("--target-accuracy", type=float, default=None, metavar="SHARE",
                      help="the cheapest alpha keeping SHARE (e.g. 0.95) of the best single "
                      "model's held-out accuracy")
    pick.add_argument("--target-cost", type=float, default=None, metavar="SHARE",
                      help="the most accurate alpha costing at most SHARE (e.g. 0.5) of the best "
                      "single model's held-out dollars")
    ens = serve.add_argument_group("ensemble routers (avengers, jisi)")
    ens.add_argument("--strategy", default="self_consistency",
                     choices=["self_consistency", "model_switch", "model_switch_ablation",
                              "direct"],
                     help="the Avengers' strategy, named as avp compare names it (default "
                     "self_consistency)")
    ens.add_argument("--samples", type=int, default=None, metavar="N",
                     help="Avengers samples per model (default 10 for self_consistency, 5 for "
                     "model_switch)")
    ens.add_argument("--temperature", type=float, default=None, metavar="T",
                     help="sampling temperature of the Avengers' samples / JiSi's candidates "
                     "(default: the named benchmark's in avp.toml, else 0.7 / 0.2)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free)")
    serve.add_argument("--api-key-env", default=None, metavar="NAME",
                       help="require `Authorization: Bearer $NAME` on /v1/ requests")
    serve.add_argument("--ready-file", default=None, help=argparse.SUPPRESS)
    add_db_argument(serve)
    add_config_argument(serve)
    serve.set_defaults(func=cmd_serve)

    served = subparsers.add_parser(
        "served",
        help="what avp serve served: spend and the model mix over time",
        description="Requests served by `avp serve` from the store: totals, then per hour (or "
        "--bucket) the requests, failures, dollars and the share of each model.",
    )
    served.add_argument("--hours", type=float, default=24.0,
                        help="look this far back (default 24; 0 = everything)")
    served.add_argument("--bucket", choices=list(BUCKETS), default="hour",
                        help="time bucket (default hour)")
    served.add_argument("--json", action="store_true", help="print the report as JSON")
    add_db_argument(served)
    served.set_defaults(func=cmd_served)


BUCKETS = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from avp_harness.app.routing import evaluate, load_router
    from avp_harness.app.serving import choose_alpha, describe_choice
    from avp_harness.config import load_config
    from avp_harness.gateway import Gateway
    from avp_harness.redact import register_secret
    from avp_harness.routing import check_alpha
    from avp_harness.serve.ensemble import EnsembleOptions
    from avp_harness.serve.server import ServeApp, ServedLog, ServeError, run
    from avp_harness.store import Store

    if not 0 <= args.port <= 65535:
        raise ServeError(f"--port must be in 0..65535, got {args.port}")
    if args.alpha is not None:
        check_alpha(args.alpha)
    token = None
    if args.api_key_env:
        token = os.environ.get(args.api_key_env, "").strip()
        if not token:
            raise ConfigError("environment", args.api_key_env,
                              "not set; --api-key-env names the variable holding the token "
                              "clients must send")
        register_secret(token)
    config = load_config(args.config)
    usable, keyless, why = [], [], {}  # why: provider -> the missing key's error
    for model in config.models:
        provider = config.provider_for(model)
        try:
            register_secret(provider.api_key())
            usable.append(model)
        except ConfigError as exc:
            keyless.append(model.id)
            why[provider.name] = str(exc)
    store = Store.open(resolve_db(args.db, config.db))
    loaded = load_router(store, args.router, args.config)
    needed = [m for m in loaded.models if m in keyless]
    if needed:
        raise RouterError(f"router {args.router!r} needs {', '.join(needed)}, whose provider "
                          f"key is missing: {'; '.join(why.values())}")
    several = loaded.kind.chooses != "one"
    if several and (args.alpha is not None or args.target_accuracy is not None
                    or args.target_cost is not None):
        raise RouterError(f"router {args.router!r} is a {loaded.kind.name} ensemble: it has no "
                          "alpha (--alpha, --target-accuracy and --target-cost do not apply)")
    if args.target_accuracy is not None or args.target_cost is not None:
        _, result = evaluate(store, loaded)
        choice = choose_alpha(result, target_accuracy=args.target_accuracy,
                              target_cost=args.target_cost)
        alpha = choice.alpha
        print(describe_choice(choice, result.n_test), flush=True)
    else:
        alpha = check_alpha(loaded.router.alpha if args.alpha is None else args.alpha)
    config = _with_models(config, usable)

    def ready(port: int) -> None:
        names = ", ".join([f"avp/{loaded.name}", *(m.id for m in usable)])
        how = app.ensemble.describe() if app.ensemble is not None else f"alpha {alpha:g}"
        print(f"serving router {loaded.name!r} ({loaded.kind.name}, {how}) on "
              f"http://{args.host}:{port}/v1 (models: {names})", flush=True)
        if keyless:
            print(f"not served (provider key missing): {', '.join(keyless)}", flush=True)
        if token is None and args.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"warning: {args.host} is reachable from other machines and no --api-key-env "
                  "token is required", file=sys.stderr, flush=True)
        if args.ready_file:
            tmp = Path(f"{args.ready_file}.tmp")
            tmp.write_text(f"{port}\n")
            os.replace(tmp, args.ready_file)

    options = EnsembleOptions(args.strategy, args.samples, args.temperature)
    app = ServeApp(config, loaded, alpha, Gateway(config), ServedLog(store), token, options)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(app, args.host, args.port, stop, ready)

    try:  # libuv's event loop: ~20% less CPU a request than asyncio's (perf/serve.py)
        import uvloop
    except ImportError:  # not on Windows
        asyncio.run(main())
    else:
        uvloop.run(main())
    return 0


def _with_models(config: Any, models: list[Any]) -> Any:
    from dataclasses import replace

    return replace(config, models=tuple(models))


def cmd_served(args: argparse.Namespace) -> int:
    from avp_harness.app.serving import model_mix, served_report
    from avp_harness.store import Store
    from avp_harness.store.served import served_buckets

    if args.hours < 0:
        raise RouterError("--hours must be >= 0")
    store = Store.open(resolve_db(args.db), create=False)
    since = time.time() - args.hours * 3600 if args.hours else None
    report = served_report(served_buckets(store, since, BUCKETS[args.bucket]))
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        print()
        return 0
    total = report["total"]
    span = f"in the last {args.hours:g} hours" if args.hours else "in all"
    if not total["requests"]:
        print(f"no requests served {span} ({store.display_url})")
        return 0
    unpriced = f" ({total['unpriced']} answers without a price)" if total["unpriced"] else ""
    print(f"{total['requests']} requests served {span}, {total['failed']} failed; "
          f"${total['dollars']:.6f}{unpriced}; {total['calls']} model calls; tokens "
          f"{total['prompt_tokens']} in, {total['completion_tokens']} out")
    print(f"models: {model_mix(total['models'])}")
    fmt = {"minute": "%Y-%m-%d %H:%M", "hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d"}[args.bucket]
    print(f"\n{args.bucket + ' (UTC)':17} {'requests':>8} {'failed':>6} {'dollars':>10}  models")
    for b in report["buckets"]:
        when = time.strftime(fmt, time.gmtime(b["start"]))
        print(f"{when:17} {b['requests']:8d} {b['failed']:6d} {b['dollars']:10.6f}  "
              f"{model_mix(b['models'])}")
    return 0
