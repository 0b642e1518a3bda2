"""The core is headless: importing it never pulls in textual; routing never pulls in openai."""

from __future__ import annotations

import json
import subprocess
import sys

CORE = [
    "avp_harness.config",
    "avp_harness.types",
    "avp_harness.errors",
    "avp_harness.store",
    "avp_harness.gateway.client",
    "avp_harness.collect.runner",
    "avp_harness.routing",
    "benchmarks",
    "graders",
]


def loaded_after_import(modules: list[str], then: str = "") -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"{then}\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_core_never_imports_textual() -> None:
    loaded = loaded_after_import(CORE)
    assert "avp_harness.collect.runner" in loaded
    assert not {m for m in loaded if m == "textual" or m.startswith("textual.")}


def test_routing_never_imports_openai() -> None:
    loaded = loaded_after_import(["avp_harness.routing"])
    assert "avp_harness.routing" in loaded
    assert "openai" not in loaded


def test_building_the_cli_does_not_import_textual() -> None:
    build = "sys.modules['avp_harness.cli'].build_parser()"
    loaded = loaded_after_import(["avp_harness.cli"], then=build)
    assert "avp_harness.cli.collect_cmds" in loaded
    assert "textual" not in loaded


def test_import_linter_contracts_hold() -> None:
    """The layering contracts in pyproject.toml (import-linter), checked on the whole tree."""
    from pathlib import Path

    lint = Path(sys.executable).with_name("lint-imports")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([str(lint)], capture_output=True, text=True, cwd=root)
    assert out.returncode == 0, out.stdout[-2000:]
    assert "0 broken" in out.stdout


# -- start-up: `avp --help` imports no heavy package (perf/startup.py measures the time) ----------

HEAVY = ("sklearn", "scipy", "numpy", "textual", "openai", "onnxruntime", "aiohttp", "sqlalchemy",
         "sqlmodel", "pydantic", "avp_harness.routing", "avp_harness.store", "avp_harness.embed",
         "avp_harness.sandbox", "avp_harness.app")


def heavy_loaded(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_building_the_cli_parser_imports_no_heavy_package() -> None:
    build = "sys.modules['avp_harness.cli'].build_parser()"
    loaded = loaded_after_import(["avp_harness.cli"], then=build)
    assert "avp_harness.cli.router_cmds" in loaded and "avp_harness.cli.compare_cmds" in loaded
    assert heavy_loaded(loaded) == []


def test_the_heavy_list_does_find_heavy_packages() -> None:
    """The check above can fail: running a router command does load routing code."""
    loaded = loaded_after_import(["avp_harness.cli.router_cmds"], then="import avp_harness.routing")
    assert "sklearn" in {m.split(".")[0] for m in heavy_loaded(loaded)}


def test_the_clis_light_names_agree_with_their_owners() -> None:
    """`avp --help` shows names from avp_harness.names; the registry and owners must agree."""
    from avp_harness import names
    from avp_harness.app import compare
    from avp_harness.config import REASONING_EFFORTS
    from avp_harness.routing import split
    from avp_harness.routing.base import get_kind

    for name, help_line in names.BUILTIN_KINDS.items():
        assert get_kind(name).help == help_line
    assert compare.METHODS == names.COMPARE_METHODS
    assert (split.MISSING, split.DEFAULT_MISSING) == (names.MISSING, names.DEFAULT_MISSING)
    assert REASONING_EFFORTS == names.REASONING_EFFORTS


def test_every_builtin_kind_is_named_for_the_cli() -> None:
    """A built-in kind added to routing/kinds.py must also be added to avp_harness.names."""
    code = (
        "import json, avp_harness.routing as r\n"
        "print(json.dumps(r.kind_names()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    from avp_harness.names import BUILTIN_KINDS

    assert json.loads(out.stdout) == list(BUILTIN_KINDS)


def test_help_names_every_environment_variable_the_code_reads() -> None:
    """`avp --help` lists each AVP_* variable read by the package (AVP_BUDGET and
    AVP_SHARED_DATA were missing)."""
    import re
    from pathlib import Path

    from avp_harness.cli import EPILOG

    root = Path(__file__).resolve().parents[2]
    names: set[str] = set()
    for package in ("avp_harness", "benchmarks", "graders"):
        for path in (root / package).rglob("*.py"):
            names |= set(re.findall(r"""environ(?:\.get\(|\[)\s*["'](AVP_[A-Z_]+)["']""",
                                    path.read_text(encoding="utf-8")))
    assert {"AVP_DB", "AVP_CONFIG", "AVP_SHARED_DATA"} <= names  # the scan finds them
    inside_the_sandbox = {"AVP_INPUT", "AVP_TOKEN_FD", "AVP_REPORT_FD"}  # set for sandboxed code
    missing = sorted(name for name in names - inside_the_sandbox if name not in EPILOG)
    assert missing == []
