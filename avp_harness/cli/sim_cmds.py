"""`avp sim serve`, `avp sim models`: the simulated OpenAI-compatible provider."""

from __future__ import annotations

import argparse
import json

from avp_harness.sim.models import SIM_EMBEDDING_MODEL, SIM_MODELS
from avp_harness.sim.options import FAULT_KINDS, add_serve_arguments

SERVE_EPILOG = f"""\
endpoints (base URL http://HOST:PORT/v1):
  POST /v1/chat/completions   non-streaming chat completions (stream=true -> 400)
  GET  /v1/models             the simulated catalogue (see `avp sim models`)
  GET  /props                 llama.cpp-style properties: chat_template, total_slots, n_ctx
  POST /v1/embeddings         {SIM_EMBEDDING_MODEL}: hashed bag-of-words vectors, L2-normalised
  POST /_sim/faults           queue faults: {{"rules": [{{"fault": KIND, "count": N, "model": ID,
                              "retry_after": S, "delay": S}}]}} for the next N matching requests
  DELETE /_sim/faults         clear the queue;  GET /_sim/log  the request log;
  GET /_sim/stats             request counts by model, fault and status

fault kinds: {", ".join(FAULT_KINDS)}
  429 (Retry-After), 500, 503, 400, 401: error responses in OpenAI's JSON shape
  quota: 402 insufficient_quota (not retryable); slow: sleep `delay` (30 s) then answer;
  malformed: 200 with a cut-short JSON body; empty: 200 with content ""; reset: drop the connection
  a request header `X-Sim-Fault: KIND` forces one fault on that request.

like a local server: each model has a context window (--context-tokens N for all; a longer
  prompt gets llama.cpp's 400 exceed_context_size_error); a small max_tokens cuts the answer
  (finish_reason "length"); --serial generates one request at a time and keeps generating for
  clients that gave up; every answer carries llama.cpp-style `timings`.

examples:
  avp sim serve --port 8765
  avp sim serve --serial --generation-s 0.5 --context-tokens 4096
  avp sim serve --latency-scale 0 --fault 429=0.05 --fault reset=0.01 --seed 7 --log sim.jsonl

Every model is SIMULATED; answers are deterministic per (model, item, seed).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    sim = subparsers.add_parser(
        "sim",
        help="run or list the simulated OpenAI-compatible provider (offline, no real models)",
        description="A local OpenAI-compatible server with clearly labelled simulated models, "
        "used by `avp demo` and the tests.",
    )
    sim_sub = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)

    serve = sim_sub.add_parser(
        "serve",
        help="serve the simulated models on 127.0.0.1 until Ctrl-C / SIGTERM",
        description="Serve the simulated models over the OpenAI chat-completions API. It "
        "recognises every registered benchmark's items and answers in their format, right or "
        "plausibly wrong according to each model's skills.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_serve_arguments(serve)
    serve.set_defaults(func=cmd_serve)

    models = sim_sub.add_parser(
        "models",
        help="print the simulated model catalogue (prices, cost reporting, latency)",
        description="The simulated models: id, description, dollars per 1M tokens, whether "
        "they report cost and reasoning tokens, and their mean latency.",
    )
    models.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    models.set_defaults(func=cmd_models)


def cmd_serve(args: argparse.Namespace) -> int:
    from avp_harness.sim.server import serve_from_args  # aiohttp: only when serving

    return serve_from_args(args)


def cmd_models(args: argparse.Namespace) -> int:
    """Print SIM_MODELS as a table (or JSON)."""
    if args.json:
        print(json.dumps([m.as_dict() for m in SIM_MODELS.values()], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Simulated models (not real models)")
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("$/1M in / out", justify="right", no_wrap=True)
    table.add_column("cached in", justify="right", no_wrap=True)
    table.add_column("reports cost", no_wrap=True)
    table.add_column("reasoning", no_wrap=True)
    table.add_column("latency", justify="right", no_wrap=True)
    table.add_column("description")
    for m in SIM_MODELS.values():
        table.add_row(
            m.id,
            f"{m.price_in:.2f} / {m.price_out:.2f}",
            f"{m.price_cached_in:.3f}",
            "yes" if m.reports_cost else "no",
            "yes" if m.reasoning else "no",
            f"{m.latency_mean_s:.1f}s",
            m.description,
        )
    table.caption = "as a judge, ID@echo repeats its prompt, ID@ramble reasons ~1,900 tokens first"
    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=140)
    console.print(table)
    return 0
