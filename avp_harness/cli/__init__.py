"""The `avp` command: parse, call, print.

Each command group lives in its own module under `avp_harness/cli/` and exposes
`register(subparsers)`, which adds its sub-commands with a `func(args) -> int` default.
Results go to stdout; every failure the user can act on is one line on stderr with exit code 2
(`AvpError`), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from avp_harness import __version__
from avp_harness.errors import AvpError
from avp_harness.redact import redact

# Command modules, in the order their commands appear in `avp --help`.
COMMAND_MODULES = [
    "avp_harness.cli.config_cmds",
    "avp_harness.cli.collect_cmds",
    "avp_harness.cli.doctor_cmds",
    "avp_harness.cli.sim_cmds",
    "avp_harness.cli.grading_cmds",
    "avp_harness.cli.sandbox_cmds",
    "avp_harness.cli.tui_cmds",
    "avp_harness.cli.router_cmds",
    "avp_harness.cli.serve_cmds",
    "avp_harness.cli.compare_cmds",
    "avp_harness.cli.aggregate_cmds",
]

EPILOG = """\
environment:
  AVP_CONFIG   path of the config file (default: ./avp.toml)
  AVP_DB       store: a SQLite path or a SQLAlchemy URL (default: `db` in avp.toml, else
               ./runs.db; read commands open demo/runs.db when only it exists, and say so)
  AVP_BUDGET   dollars a run may spend (overrides `budget` in avp.toml; --budget overrides it)
  AVP_SHARED_DATA  folder used in place of ../shared/data in the benchmarks' default sources
  AVP_LEASE_S  seconds a collector's claim on cells lasts without renewal (default 60)
  AVP_MATH_WORKERS  processes comparing math answers (default 2)
  AVP_SANDBOX_WORKERS  sandboxed code runs at once (default 2)
  AVP_SANDBOX_ISOLATION=rlimits-only  forces the weak sandbox fallback (perf comparisons only)
  AVP_EMBEDDING_BASE_URL, AVP_EMBEDDING_API_KEY  the `api` embedding backend's endpoint and key
  AVP_CACHE_DIR  where the local embedding's int8 model is built once (default:
               $XDG_CACHE_HOME/avp-harness, else ~/.cache/avp-harness)
  OPENROUTER_API_KEY  key for the default provider (read at call time, never stored)

quick start:
  avp demo                 simulated provider + default suite, prints the matrix
  avp init && avp run      evaluate the models in avp.toml
  avp status               the model x benchmark matrix (after `avp demo`: of demo/runs.db)
"""


class Parser(argparse.ArgumentParser):
    """Bad options are one line on stderr (exit 2), not a usage block that hides the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="avp",
        description="Evaluation harness for performance-efficiency routing of LLMs "
        "(Avengers-Pro): collect, grade, store, fit routers, inspect.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"avp-harness {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """The one `--db` option every store-reading command shares."""
    parser.add_argument(
        "--db",
        default=None,
        help="store: SQLite path or SQLAlchemy URL (default: $AVP_DB, `db` in avp.toml, "
        "./runs.db; for reading, demo/runs.db when only it exists)",
    )


class NamesAction(argparse.Action):
    """`--models a,b`, `--models a b` and `--models a, b` alike: one list of names (a repeated
    option adds to it)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        names = [n.strip() for value in values for n in str(value).split(",") if n.strip()]
        if not names:
            parser.error(f"{option_string}: no names given")
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest) or []), *names])


def add_names_option(parser: argparse.ArgumentParser, flag: str, what: str,
                     default: str = "all") -> None:
    """The one convention for a list of names: comma- or space-separated, or both."""
    parser.add_argument(flag, nargs="+", action=NamesAction, default=None, metavar="NAME",
                        help=f"{what}, comma- or space-separated (default: {default})")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", "-c", default=None, help="config file (default: $AVP_CONFIG or ./avp.toml)"
    )


DEMO_DB = os.path.join("demo", "runs.db")  # where `avp demo` / `make demo` write by default


def resolve_db(arg: str | None, config_db: str | None = None, *,
               demo_fallback: bool = True, announce: bool = True) -> str:
    """The store every command opens, by one rule: `--db`, else `$AVP_DB`, else the config's
    `db` (`config_db` when the command read its config, else the `db` of $AVP_CONFIG or
    ./avp.toml), else ./runs.db. When that is ./runs.db, there is none, and `avp demo` has
    written ./demo/runs.db, commands open the demo store instead and say so on stderr, so the
    command after `make demo` just works; commands that write cells (`avp run`, `avp import`,
    `avp onboard`: `demo_fallback=False`) never do, so no real cell enters the demo store."""
    if arg:
        return arg
    if os.environ.get("AVP_DB"):
        return os.environ["AVP_DB"]
    if config_db is None:
        from avp_harness.config import config_db as read_config_db

        config_db = read_config_db()
    if config_db:
        return config_db
    if demo_fallback and not os.path.exists("runs.db") and os.path.exists(DEMO_DB):
        if announce:
            print(f"avp: using the demo store {DEMO_DB} (SIMULATED models; there is no "
                  f"./runs.db; --db or $AVP_DB choose another)", file=sys.stderr)
        return DEMO_DB
    return "runs.db"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AvpError as exc:
        print(f"avp: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("avp: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a database failure met mid-command: one line, not a traceback
        from avp_harness.store import describe_failure

        line = describe_failure(exc)
        if line is None:
            raise
        print(f"avp: error: {redact(line)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
