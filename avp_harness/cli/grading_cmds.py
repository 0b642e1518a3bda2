"""`avp benchmarks list|show`, `avp grade`, `avp regrade` and `avp report`: what each benchmark
is, grading given answers (no model call), grading stored answers again, and each benchmark's
official metrics from the stored grades."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from avp_harness.cli import add_config_argument, add_db_argument, resolve_db
from avp_harness.errors import DataError

REGRADE_EPILOG = """\
examples:
  avp regrade --benchmark simpleqa        grade stored SimpleQA answers again (judge from avp.toml)
  avp regrade --grader choice --json      every cell last graded by the choice grader
  avp regrade --config other-judge.toml   the same answers, judged by another judge model
  avp regrade --dry-run                   what a grader change would do, writing nothing

Candidate models are never called. Judge verdicts are cached by (judge model, prompt version,
question, response), so regrading with the same judge costs nothing. Replaced grades are kept in
the store's grade_history table; running it again changes nothing. Per benchmark and model it
prints how many cells went 1->0 and 0->1, and the accuracy before and after.
"""


GRADE_EPILOG = """\
examples:
  avp grade mmlu_pro 70 --response answer.txt       one answer to MMLU-Pro question 70
  echo 'The answer is (I).' | avp grade mmlu_pro 70 --response -
  avp grade gpqa_diamond --responses answers.jsonl  {"item_id": "rec...", "response": "..."}

Exit codes: 0 graded, 2 bad input (unknown benchmark or item, a bad JSONL line: its number is
named) or a benchmark graded by an LLM judge (simpleqa, hle: use `avp run` / `avp regrade`).
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    bench = subparsers.add_parser(
        "benchmarks",
        help="list the benchmarks, or show one (source, prompt, grader, paper setup)",
        description="The registered benchmarks: version, data source, grader and the selection "
        "the Avengers-Pro paper uses.",
    )
    actions = bench.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="one line per benchmark")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument(
        "--count", action="store_true", help="load every benchmark present to count its items"
    )
    listing.set_defaults(func=cmd_benchmarks_list)
    show = actions.add_parser("show", help="describe one benchmark")
    show.add_argument("name", help="benchmark name (see `avp benchmarks list`)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=cmd_benchmarks_show)

    grade = subparsers.add_parser(
        "grade",
        help="grade answers you give (a file, or a JSONL of many) without any model call",
        description="Grade one response (--response FILE, '-' for stdin) to one item, or many "
        '(--responses FILE.jsonl, one {"item_id": ..., "response": ...} per line), with the '
        "benchmark's own grader; print each grade as one JSON line (score, extracted answer, "
        "explanation, grader id and version). Judge-graded benchmarks are refused (exit 2).",
        epilog=GRADE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    grade.add_argument("benchmark", help="benchmark name (see `avp benchmarks list`)")
    grade.add_argument("item_id", nargs="?", help="the item the --response answers")
    given = grade.add_mutually_exclusive_group(required=True)
    given.add_argument("--response", metavar="FILE", help="one response text ('-': stdin)")
    given.add_argument("--responses", metavar="FILE.jsonl", help="many: item_id + response")
    grade.add_argument(
        "--source", help="the benchmark's data in its official format (default: its own source)"
    )
    grade.set_defaults(func=cmd_grade)

    regrade = subparsers.add_parser(
        "regrade",
        help="grade stored responses again (after a grader fix or with another judge)",
        description="Re-grade the ok cells in the store with each benchmark's current grader, "
        "without calling the candidate models; print how many verdicts changed.",
        epilog=REGRADE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_argument(regrade)
    add_db_argument(regrade)
    regrade.add_argument(
        "--benchmark", action="append", help="benchmark to regrade (repeatable; default: all)"
    )
    regrade.add_argument("--grader", help="only cells last graded by this grader id")
    regrade.add_argument("--json", action="store_true", help="print the summaries as JSON")
    regrade.add_argument(
        "--dry-run", action="store_true", help="grade and count the changes, write nothing"
    )
    regrade.set_defaults(func=cmd_regrade)

    report = subparsers.add_parser(
        "report",
        help="each benchmark's official metrics from the stored grades",
        description="Each benchmark's own figures, as it declares them (benchmarks/*.py "
        "`metrics`): SimpleQA: accuracy, accuracy given attempted and F-score. HLE: accuracy "
        "(with its 95% half-width) and the RMS calibration error of the stated confidences. "
        "HealthBench: the clipped mean rubric score with its bootstrap std, and per tag. "
        "Others: accuracy and unparsed answers. Judge dollars are shown apart.",
    )
    add_db_argument(report)
    add_config_argument(report)
    report.add_argument("--benchmark", help="one benchmark (default: every graded one)")
    report.add_argument("--json", action="store_true", help="print JSON")
    report.add_argument(
        "--html", type=Path, metavar="OUT.html",
        help="also write one HTML page: the matrix, these metrics, the cost-accuracy figure "
        "(needs the plot extra) and a per-item drill-down",
    )
    report.add_argument("--router", metavar="NAME",
                        help="with --html: the figure is this stored router's held-out sweep")
    report.add_argument("--items", type=int, default=500, metavar="N",
                        help="with --html: drill-down rows per benchmark (default 500)")
    report.set_defaults(func=cmd_report)


# ------------------------------------------------------------------------------ benchmarks


def cmd_benchmarks_list(args: argparse.Namespace) -> int:
    import benchmarks
    from avp_harness.app.benchmarks import describe

    rows = [describe(name, count=args.count) for name in benchmarks.names()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.table import Table

    table = Table(title="benchmarks", title_justify="left")
    for column in ("name", "version", "items", "data", "grader", "paper setup"):
        table.add_column(column, justify="right" if column == "items" else "left")
    for row in rows:
        items = str(row["items"]) if row["items"] is not None else "?"
        data = ("present: " if row["data_present"] else "absent: ") + row["source"]
        grader = f"{row['grader']} {row['grader_version']}" + (
            " (LLM judge)" if row["needs_judge"] else ""
        )
        table.add_row(row["name"], row["version"], items, data, grader, row["paper_selection"])
    table.caption = "items: ? = not counted without loading (use --count)"
    _console().print(table)
    return 0


def _docstring_parts(module: Any) -> tuple[str, str | None, list[str]]:
    """(summary line, first URL, source-format paragraphs) of a benchmark module's docstring."""
    doc = inspect.getdoc(module) or ""
    summary = doc.split("\n", 1)[0]
    url = re.search(r"https?://[^\s,;)]+", doc)
    paragraphs = [" ".join(p.split()) for p in doc.split("\n\n")]
    sources = [p for p in paragraphs if re.match(r"(Source formats?|Data)\b", p)]
    return summary, url.group(0).rstrip(".") if url else None, sources


def _templates(module: Any) -> dict[str, str]:
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, str)
        and name.isupper()
        and (name.endswith("TEMPLATE") or name.startswith("SYSTEM"))
    }


def has_canary(module: Any) -> bool:
    """Whether the benchmark's data carries a canary (its items are never printed)."""
    return "canary" in (inspect.getdoc(module) or "").lower()


def cmd_benchmarks_show(args: argparse.Namespace) -> int:
    import benchmarks

    bench = benchmarks.get(args.name)
    from avp_harness.app.benchmarks import benchmark_module, describe, described_grader

    module = benchmark_module(args.name)
    info = describe(args.name)
    summary, url, sources = _docstring_parts(module)
    grader = described_grader(bench)
    info |= {
        "summary": summary,
        "url": url,
        "source_formats": sources,
        "templates": _templates(module),
        "grader_doc": (inspect.getdoc(type(grader)) or "").split("\n", 1)[0],
        "extraction": getattr(getattr(grader, "rule", None), "follows", None),
        "example": None,
        "example_note": "",
    }
    if has_canary(module):
        info["example_note"] = "not shown: this benchmark's data carries a canary string"
    elif not info["data_present"]:
        info["example_note"] = f"not shown: data absent ({info['data']})"
    else:
        from benchmarks import Selection

        item = next(iter(bench.items(Selection(limit=1))), None)
        if item is not None:
            info["example"] = [m.as_dict() for m in item.messages]
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    items = info["items"] if info["items"] is not None else "? (avp benchmarks list --count)"
    lines = [
        f"{info['name']} (version {info['version']}): {summary}",
        f"  {info['description']}",
        f"  paper: {url or '-'}",
        f"  data: {'present' if info['data_present'] else 'absent'}: {info['data']}",
        f"  items: {items}",
        f"  grader: {info['grader']} {info['grader_version']}: {info['grader_doc']}"
        + (" (needs [judge] in avp.toml)" if info["needs_judge"] else ""),
        f"  Avengers-Pro paper selection: {info['paper_selection']}",
    ]
    if info["extraction"]:
        lines.insert(-1, f"  extraction as: {info['extraction']}")
    for paragraph in sources:
        lines.append(f"  {paragraph}")
    for name, template in info["templates"].items():
        lines.append(f"\n{name}:")
        lines += [f"  | {line}" for line in template.splitlines()]
    if info["example"] is not None:
        lines.append("\nexample prompt (first item):")
        for message in info["example"]:
            lines.append(f"  [{message['role']}]")
            lines += [f"  | {line}" for line in message["content"].splitlines()]
    else:
        lines.append(f"\nexample prompt {info['example_note']}")
    print("\n".join(lines))
    return 0


# ------------------------------------------------------------------------------ grade


def _read_text(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


def read_responses(path: str) -> list[tuple[str, str, str]]:
    """(where, item id, response) for each line of a JSONL file; a bad line is a DataError
    naming it (`where` is `FILE:LINE`)."""
    pairs = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or "item_id" not in row or "response" not in row:
            raise DataError(f'{path}:{number}: expected {{"item_id": ..., "response": ...}}')
        if not isinstance(row["response"], str):
            raise DataError(f"{path}:{number}: response is not a string")
        pairs.append((f"{path}:{number}", str(row["item_id"]), row["response"]))
    return pairs


def cmd_grade(args: argparse.Namespace) -> int:
    import asyncio  # here, not at module level: `avp --help` starts faster

    import benchmarks

    bench = benchmarks.get(args.benchmark)
    if bench.needs_judge:
        print(
            f"avp: {args.benchmark} is graded by an LLM judge, a model call `avp grade` does not "
            "make; grade its answers with `avp run` or `avp regrade` (judge in avp.toml)",
            file=sys.stderr,
        )
        return 2
    if args.response is not None:
        if args.item_id is None:
            raise DataError("--response needs the ITEM_ID it answers")
        pairs = [("", args.item_id, _read_text(args.response))]
    else:
        if args.item_id is not None:
            raise DataError("give ITEM_ID with --response, not with --responses (ids are per line)")
        pairs = read_responses(args.responses)
    from benchmarks import Selection

    source = Path(args.source) if args.source else None
    items = {item.id: item for item in bench.items(Selection(source=source))}
    for where, item_id, _text in pairs:
        if item_id not in items:
            raise DataError(
                f"{args.benchmark} has no item {item_id!r}" + (f" ({where})" if where else "")
            )
    grades = asyncio.run(_grade_all(bench.grader(None), [(items[i], t) for _, i, t in pairs]))
    for (_where, item_id, _text), grade in zip(pairs, grades, strict=True):
        print(json.dumps({"benchmark": args.benchmark, "item_id": item_id, **grade_json(grade)}))
    return 0


async def _grade_all(grader: Any, pairs: list[tuple[Any, str]]) -> list[Any]:
    import asyncio  # here, not at module level: `avp --help` starts faster

    from avp_harness.types import Completion, CostSource, Usage

    async def one(item: Any, text: str) -> Any:
        completion = Completion(text, Usage(), None, CostSource.UNKNOWN, 0.0, "stop")
        return await grader(item, completion)

    return list(await asyncio.gather(*(one(item, text) for item, text in pairs)))


def grade_json(grade: Any) -> dict[str, Any]:
    return {
        "score": grade.score,
        "extracted": grade.extracted,
        "parsed": grade.parsed,
        "explanation": grade.explanation,
        "grader": grade.grader,
        "grader_version": grade.grader_version,
    }


# ------------------------------------------------------------------------------ regrade


def _config(path: str | None) -> Any:
    """The config when one is given or present (for the judge and the db), else defaults."""
    from avp_harness.config import Config, load_config

    if path or os.environ.get("AVP_CONFIG") or Path("avp.toml").exists():
        return load_config(path)
    return Config()


def cmd_regrade(args: argparse.Namespace) -> int:
    import asyncio  # here, not at module level: `avp --help` starts faster

    import benchmarks
    from avp_harness.app.benchmarks import benchmark_module
    from avp_harness.collect.regrade import regrade
    from avp_harness.store import Store
    from avp_harness.store.grades import count_regradable, regradable_benchmarks

    config = _config(args.config)
    db = resolve_db(args.db, config.db if config.path else None)
    summaries = []
    with Store.open(db, create=False) as store:
        names = args.benchmark or regradable_benchmarks(store)
        if args.benchmark:
            for name in names:
                benchmark_module(name)  # a named unknown benchmark fails before any work
        else:  # imported records under names avp does not know: nothing to grade them with
            unknown = [name for name in names if name not in benchmarks.REGISTRY]
            names = [name for name in names if name in benchmarks.REGISTRY]
            if unknown:
                cells = sum(count_regradable(store, name) for name in unknown)
                print(
                    f"avp: skipped {cells} cells of {len(unknown)} benchmarks avp does not know "
                    f"({', '.join(unknown)}; imported records?): no grader for them",
                    file=sys.stderr,
                )
        for name in names:
            summaries.append(
                asyncio.run(
                    regrade(
                        store, name, config=config, grader_filter=args.grader,
                        dry_run=args.dry_run,
                    )
                )
            )
    if args.json:
        print(json.dumps([s.as_dict() for s in summaries], indent=2))
    else:
        for summary in summaries:
            _print_regrade(summary)
    if not summaries:
        print("avp: the store has no graded cells to regrade", file=sys.stderr)
    return 1 if any(s.failed for s in summaries) else 0


def _print_regrade(summary: Any) -> None:
    from rich.table import Table

    judge = ""
    if summary.judge_model:
        judge = (
            f"; judge {summary.judge_model}: {summary.judge_calls} calls, "
            f"{summary.judge_cache_hits} cached, ${summary.judge_dollars:.4f}"
        )
    written = (
        f"{summary.rewritten} grades would be rewritten (dry run: nothing written)"
        if summary.dry_run
        else f"{summary.rewritten} grades rewritten (previous kept in grade_history)"
    )
    print(
        f"{summary.benchmark}: {summary.examined} cells regraded with {summary.grader} "
        f"{summary.grader_version}: {summary.score_changes} verdicts changed, "
        f"{written}, {summary.failed} failed{judge}"
        + (f"; {summary.skipped} imported cells skipped (no answer to grade again)"
           if summary.skipped else "")
    )
    if summary.judge_failures:
        print(
            f"  {summary.judge_failures} judge failures (reply without a single verdict, or cut "
            "off): those cells await a grade again (answer kept), any old grade in grade_history"
        )
    for error in summary.errors:
        print(f"  failed: {error}")
    if summary.by_model:
        models = Table(title=f"{summary.benchmark}: changes per model", title_justify="left")
        for column in ("model", "cells", "1->0", "0->1", "accuracy before", "accuracy after"):
            models.add_column(column, justify="left" if column == "model" else "right")
        for model, changes in sorted(summary.by_model.items()):
            models.add_row(
                model, str(changes.examined), str(changes.lost), str(changes.gained),
                f"{changes.accuracy(False):.1%}", f"{changes.accuracy(True):.1%}",
            )
        _console().print(models)
    if summary.confusion:
        table = Table(title="old -> new verdicts", title_justify="left")
        labels = sorted({label for pair in summary.confusion for label in pair})
        table.add_column("old \\ new")
        for label in labels:
            table.add_column(label, justify="right")
        for old in labels:
            table.add_row(old, *(str(summary.confusion.get((old, new), 0)) for new in labels))
        _console().print(table)


# ------------------------------------------------------------------------------ report


def cmd_report(args: argparse.Namespace) -> int:
    from avp_harness.app.benchmarks import benchmark_module
    from avp_harness.app.report import benchmark_report
    from avp_harness.store import Store
    from avp_harness.store.grades import graded_benchmarks

    config_db = None
    if args.config or Path("avp.toml").exists():
        config_db = _config(args.config).db
    db = resolve_db(args.db, config_db)
    with Store.open(db, create=False) as store:
        if args.benchmark:
            benchmark_module(args.benchmark)
        names = [args.benchmark] if args.benchmark else graded_benchmarks(store)
        reports = {name: benchmark_report(store, name) for name in names}
        if args.html:
            _write_html(store, reports, args)
    if args.json:
        print(json.dumps(reports, indent=2))
        return 0
    for name, report in reports.items():
        _print_report(name, report)
    if not any(reports.values()):
        print("avp: no graded cells in the store for that benchmark", file=sys.stderr)
    return 0


def _write_html(store: Any, reports: dict[str, Any], args: argparse.Namespace) -> None:
    from avp_harness.app.html_report import write_html

    if args.items < 1:
        raise DataError("--items must be at least 1")
    sweep = None
    if args.router:
        from avp_harness.app.routing import sweep_router
        from avp_harness.routing import alpha_grid

        sweep = sweep_router(store, args.router, alpha_grid("0:1:0.01"))[0]
    write_html(store, reports, args.html, sweep, args.router, args.items)
    print(f"wrote {args.html}", file=sys.stderr)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


SPEND = ("n", "dollars", "judge_dollars", "judge_tokens", "user_dollars", "planned", "truncated")


def _print_report(benchmark: str, report: dict[str, dict[str, Any]]) -> None:
    """Any benchmark the same way: its metrics' numbers as columns (ints as counts, floats as
    percentages), coverage and dollars, its notes and what the figures leave out as the caption,
    then a "tags" dict as a table of tag x model: score ± bootstrap std (n)."""
    from rich.table import Table

    import benchmarks

    bench = benchmarks.get(benchmark) if benchmark in benchmarks.REGISTRY else None
    labels = dict(bench.metric_labels) if bench is not None else {}
    from avp_harness.app.report import metrics_of

    rows = [metrics_of(benchmark)([])] + [row for row in report.values() if row["n"]]
    names = list(dict.fromkeys(  # the figures of no grades name the columns a table always has
        k for row in rows for k, v in row.items()
        if k not in SPEND and not isinstance(v, bool) and (v is None or isinstance(v, int | float))
    ))
    table = Table(title=f"{benchmark}: metrics from stored grades", title_justify="left")
    users = any("user_dollars" in row for row in report.values())  # τ²: the simulated user's
    columns = ["model", "n", *(labels.get(k, k.replace("_", " ")) for k in names),
               "planned", "truncated", "dollars", "judge dollars", *(["user dollars"] * users)]
    for column in columns:
        table.add_column(column, justify="left" if column == "model" else "right")
    for model, row in sorted(report.items()):
        if not row["n"]:  # planned, nothing graded yet: the caption says why
            cells = ["-"] * len(names)
        else:
            cells = [str(row[k]) if isinstance(row.get(k), int) else _pct(row.get(k))
                     for k in names]
        coverage = [str(row.get("planned", "-")), str(row.get("truncated", 0))]
        table.add_row(model, str(row["n"]), *cells, *coverage, f"{row['dollars']:.4f}",
                      f"{row['judge_dollars']:.4f}",
                      *([f"{row.get('user_dollars', 0.0):.4f}"] * users))
    captions = list(bench.metric_notes) if bench is not None else []
    captions += _coverage_lines(report)
    table.caption = "\n".join(captions) or None
    _console().print(table)
    tags = sorted({tag for row in report.values() for tag in row.get("tags") or {}})
    if not tags:
        return
    by_tag = Table(title=f"{benchmark}: per tag (score ± bootstrap std, n)", title_justify="left")
    by_tag.add_column("tag")
    models = sorted(report)
    for model in models:
        by_tag.add_column(model, justify="right")
    for tag in tags:
        stats = [(report[m].get("tags") or {}).get(tag) for m in models]
        by_tag.add_row(tag, *(
            "-" if s is None else f"{s['score']:.1%} ± {s['bootstrap_std']:.1%} ({s['n_samples']})"
            for s in stats
        ))
    _console().print(by_tag)


def _coverage_lines(report: dict[str, dict[str, Any]]) -> list[str]:
    """What the figures leave out (per model) and how many answers were cut at max_tokens."""
    words = {"context_exceeded": "context exceeded", "failed": "failed",
             "ungraded": "not graded", "not_yet_run": "not yet run"}
    lines = []
    for model, row in sorted(report.items()):
        left_out = row.get("left_out") or {}
        if left_out:
            why = ", ".join(f"{words[k]} {v}" for k, v in left_out.items())
            lines.append(f"{model}: leaves out {sum(left_out.values())} of {row.get('planned')} "
                         f"planned items ({why})")
        if row.get("truncated"):
            lines.append(f"{model}: {row['truncated']} of its {row['n']} answers hit max_tokens "
                         "(graded as they are)")
    if not lines:
        lines.append("every planned item is in these figures")
    return lines


def _console() -> Any:
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)
