"""The fault kinds and command-line options of the simulated provider, without importing the
server (aiohttp, the answer index): `avp --help` builds its parser from them and starts fast."""

from __future__ import annotations

import argparse

FAULT_KINDS = ("429", "500", "503", "400", "401", "slow", "malformed", "empty", "reset", "quota",
               "401-echo")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `avp sim serve` and `python -m avp_harness.sim.server serve`."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port (0: any free port; default 8765)"
    )
    parser.add_argument(
        "--latency-scale",
        type=float,
        default=1.0,
        metavar="X",
        help="multiply every simulated latency by X (0: answer at once; default 1)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND=RATE",
        help=f"random fault on a RATE share of requests (repeatable), KIND {'|'.join(FAULT_KINDS)}",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random faults (default 0)")
    parser.add_argument(
        "--log", default=None, metavar="FILE", help="append every request as a JSON line"
    )
    parser.add_argument(
        "--ready-file",
        default=None,
        metavar="FILE",
        help="write the bound port to FILE (atomically) once listening",
    )
    parser.add_argument(
        "--index",
        default=None,
        metavar="NAMES",
        help="comma-separated benchmarks whose prompts to recognise (default: all registered; "
        "'' for none: faster start)",
    )
    parser.add_argument(
        "--benchmark",
        action="append",
        default=[],
        metavar="NAME=MODULE[:ATTR]",
        help="also index this benchmark object (overrides a registered NAME), repeatable",
    )
    parser.add_argument(
        "--serial",
        action="store_true",
        help="one generation at a time, others queue; a request whose client gave up is "
        "generated anyway (as llama-cpp-python or a one-slot llama.cpp server)",
    )
    parser.add_argument(
        "--generation-s",
        type=float,
        default=None,
        metavar="S",
        help="every generation takes S seconds (default: the model's latency x --latency-scale)",
    )
    parser.add_argument(
        "--context-tokens",
        type=int,
        default=None,
        metavar="N",
        help="every model's context window (default: each model's own); a longer prompt gets "
        "llama.cpp's 400 exceed_context_size_error",
    )
