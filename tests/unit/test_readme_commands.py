"""The README's `avp ...` commands parse with the real argparse parser (no unknown flag, no
missing argument), every `--help` reads right, and `--models` / `--benchmarks` take names
comma- or space-separated alike in every command."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from avp_harness.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"
SEPARATORS = {"&&", "||", "|", ";", "&"}


def readme_commands(text: str | None = None) -> list[list[str]]:
    """Every `avp` command line of the README's sh/bash code blocks, as argv (without `avp`)."""
    text = README.read_text(encoding="utf-8") if text is None else text
    commands = []
    for block in re.findall(r"```(?:sh|bash)\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            tokens = list(lexer)
            segment: list[str] = []
            for token in [*tokens, ";"]:
                if token in SEPARATORS:
                    if segment and (segment[0] == "avp" or segment[0].endswith("/avp")):
                        commands.append(segment[1:])
                    segment = []
                elif token in (">", "<", ">>") or (segment and segment[-1] in (">", "<", ">>")):
                    segment.append(token)  # a redirection and its file: dropped below
                else:
                    segment.append(token)
            commands[:] = [[t for i, t in enumerate(c) if t not in (">", "<", ">>")
                            and (i == 0 or c[i - 1] not in (">", "<", ">>"))] for c in commands]
    return commands


def test_the_readme_has_commands_to_check() -> None:
    commands = readme_commands()
    assert len(commands) >= 40
    assert ["route", "main", "--file", "queries.jsonl", "--db", "demo/runs.db", "--json"] in \
        commands
    assert readme_commands("```sh\necho x | avp grade m 1 --response - > out  # c\n```\n") == \
        [["grade", "m", "1", "--response", "-"]]


@pytest.mark.parametrize("argv", readme_commands(), ids=lambda a: " ".join(a)[:60])
def test_each_readme_command_parses(argv: list[str]) -> None:
    parser = build_parser()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            assert exc.code == 0, f"avp {shlex.join(argv)}: {err.getvalue().strip()}"


def inline_commands() -> list[str]:
    """The README's `avp ...` spans in its prose (outside code blocks)."""
    prose = re.sub(r"```.*?```", "", README.read_text(encoding="utf-8"), flags=re.S)
    return re.findall(r"`(avp [^`]+)`", prose)


def unknown_flags(argv: list[str]) -> list[str]:
    """The `--flags` of `argv` its (sub)command does not have (an unknown command counts)."""
    import argparse

    parser = build_parser()
    flags: list[str] = []
    for token in argv:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs and not token.startswith("-"):
            if token not in subs[0].choices:
                return [token] if not token.isupper() else []  # COMMAND: a placeholder
            parser = subs[0].choices[token]
        elif token.startswith("--"):
            flags.append(token.split("=")[0])
    known = {s for a in parser._actions for s in a.option_strings}
    return [f for f in flags if f not in known]


def test_prose_commands_use_flags_their_command_has() -> None:
    spans = inline_commands()
    assert len(spans) >= 50
    assert unknown_flags(["sweep", "--kind", "knn"]) == ["--kind"]  # what the README said once
    assert unknown_flags(["fit", "--kind", "knn"]) == []
    bad = {}
    for span in spans:
        words = [w for w in span.replace("[", " ").replace("]", " ").split()[1:]
                 if w not in ("...", "|") and not w.startswith("...")]
        words = [w.split("\\")[0].split("|")[0].rstrip(",.") for w in words]
        if unknown_flags(words):
            bad[span] = unknown_flags(words)
    assert not bad


def all_parsers() -> list[tuple[str, object]]:
    import argparse

    out = []

    def walk(name: str, parser: argparse.ArgumentParser) -> None:
        out.append((name, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    walk(f"{name} {sub}", child)

    walk("avp", build_parser())
    return out


def test_every_help_reads_right() -> None:
    for name, parser in all_parsers():
        text = parser.format_help()  # type: ignore[attr-defined]
        assert "%%" not in text and "sentence-transformers" not in text, name
    epilog = build_parser().format_help()
    for variable in ("AVP_BUDGET", "AVP_SHARED_DATA", "AVP_DB", "AVP_CONFIG"):
        assert variable in epilog


@pytest.mark.parametrize("command", [
    ["run"], ["fit", "--name", "r"], ["export", "avengers-pro", "out.jsonl"], ["compare"],
])
def test_names_are_comma_or_space_separated_everywhere(command: list[str]) -> None:
    parser = build_parser()
    for spelling in (["a,b"], ["a", "b"], ["a,", "b"], ["a", "--models", "b"]):
        args = parser.parse_args([*command, "--models", *spelling])
        assert args.models == ["a", "b"], (command, spelling)
    args = parser.parse_args([*command, "--benchmarks", "x,y", "z"])
    assert args.benchmarks == ["x", "y", "z"]
    assert parser.parse_args(command).models is None
