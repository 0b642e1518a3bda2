"""The results screen (cells, filtered) and the item screen (one cell in full).

Filters are keys: `f` status (all, failed, wrong, right, ok), `d` disagreements between models,
`b` benchmark, `m` model, `x` clear. `avp cells` lists the same rows with the same filters and
`avp show-cell ID` prints what the item screen shows.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from avp_harness.store.cells import (
    CellDetail,
    CellFilter,
    CellRow,
    cell_detail,
    cell_names,
    list_cells,
)

STATUS_CYCLE = ("all", "failed", "wrong", "right", "ok")
LIMIT = 1000


def _cycle(options: list[Any], current: Any) -> Any:
    """The option after `current` (None, meaning any, comes first)."""
    choices = [None, *options]
    return choices[(choices.index(current) + 1) % len(choices)] if current in choices else None


def describe(flt: CellFilter) -> str:
    parts = [f"status {flt.status}", f"model {flt.model or 'any'}",
             f"benchmark {flt.benchmark or 'any'}"]
    if flt.disagreements:
        parts.append("disagreements only")
    return "  ".join(parts)


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:.5f}"


class ResultsScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open item"),
        Binding("f", "status", "Status"),
        Binding("d", "disagreements", "Disagree"),
        Binding("b", "benchmark", "Bench"),
        Binding("m", "model", "Model"),
        Binding("x", "clear", "Clear"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[CellRow] = []
        self.models: list[str] = []
        self.benchmarks: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="results-banner", classes="banner")
        yield DataTable(id="results-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#results-table", DataTable)
        table.add_columns("id", "model", "benchmark", "item", "status", "score", "answer", "$",
                          "latency", "tries", "error")
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    def reopen(self) -> None:
        self.load()

    @property
    def flt(self) -> CellFilter:
        app: Any = self.app
        return app.cell_filter

    def set_filter(self, **changes: Any) -> None:
        app: Any = self.app
        data = dict(self.flt.__dict__, **changes)
        app.cell_filter = CellFilter(**data)
        self.load()

    def load(self) -> None:
        app: Any = self.app
        if app.store is None:
            self.query_one("#results-banner", Static).update(Text(app.store_error or "",
                                                                 style="bold red"))
            return
        self.query_one("#results-banner", Static).update(Text(describe(self.flt) + "  loading..."))
        self.run_worker(self._read, thread=True, exclusive=True, group="results",
                        name="results-load")

    def _read(self) -> None:
        app: Any = self.app
        flt = self.flt
        rows = list_cells(app.store, flt, limit=LIMIT)
        models, benches = cell_names(app.store)
        self.app.call_from_thread(self.show, flt, rows, models, benches)

    def show(self, flt: CellFilter, rows: list[CellRow], models: list[str],
             benches: list[str]) -> None:
        self.rows, self.models, self.benchmarks = rows, models, benches
        more = f" (first {LIMIT})" if len(rows) >= LIMIT else ""
        banner = Text(f"{describe(flt)}  ->  {len(rows)} cells{more}")
        if not rows:
            banner.append("\nno cells match: x clears the filters", style="italic")
        self.query_one("#results-banner", Static).update(banner)
        table = self.query_one("#results-table", DataTable)
        table.clear()
        for r in rows:
            status = Text(r.status, style="green" if r.status == "ok" else "bold red")
            score = "-" if r.score is None else f"{r.score:g}"
            latency = "-" if r.latency_s is None else f"{r.latency_s:.2f}s"
            table.add_row(str(r.id), r.model, r.benchmark, r.item_id, status, score,
                          (r.extracted or "")[:24], _money(r.cost), latency, str(r.attempts),
                          (r.error or "")[:40], key=str(r.id))

    # -- actions ------------------------------------------------------------------------------
    def action_status(self) -> None:
        current = self.flt.status if self.flt.status in STATUS_CYCLE else "all"
        self.set_filter(status=STATUS_CYCLE[(STATUS_CYCLE.index(current) + 1) % len(STATUS_CYCLE)])

    def action_disagreements(self) -> None:
        self.set_filter(disagreements=not self.flt.disagreements)

    def action_benchmark(self) -> None:
        self.set_filter(benchmark=_cycle(self.benchmarks, self.flt.benchmark))

    def action_model(self) -> None:
        self.set_filter(model=_cycle(self.models, self.flt.model))

    def action_clear(self) -> None:
        app: Any = self.app
        app.cell_filter = CellFilter()
        self.load()

    def action_open(self) -> None:
        table = self.query_one("#results-table", DataTable)
        if self.rows and 0 <= table.cursor_row < len(self.rows):
            self.app.push_screen(ItemScreen(self.rows[table.cursor_row].id))

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open()


def detail_text(d: CellDetail) -> Text:
    """Everything about one cell, as plain styled text (never parsed as markup)."""
    c = d.cell
    text = Text()

    def section(title: str) -> None:
        text.append(f"\n{title}\n", style="bold underline")

    def field(name: str, value: Any) -> None:
        text.append(f"{name:>16}  ", style="bold")
        text.append(f"{'-' if value is None or value == '' else value}\n")

    text.append(f"cell {c.id}  {c.model}  {c.benchmark}  item {c.item_id}  sample {c.sample}\n",
                style="bold")
    field("status", c.status)
    field("error", c.error)
    field("attempts", c.attempts)
    field("finish reason", c.finish_reason)
    field("tokens", f"prompt {c.prompt_tokens}, completion {c.completion_tokens}, "
                    f"reasoning {c.reasoning_tokens}, cached {c.cached_tokens}")
    field("dollars", f"{_money(c.cost)} ({c.cost_source}"
                     + (f", prices {c.price_version})" if c.price_version else ")"))
    field("request latency", None if c.latency_s is None else f"{c.latency_s:.3f}s "
          "(queueing at the server included)")
    if c.server_time_s is not None:
        field("server time", f"{c.server_time_s:.3f}s (the server's own timing)")
    section("grade")
    field("score", c.score)
    field("extracted", c.extracted)
    field("parsed", c.parsed)
    field("grader", f"{c.grader} {c.grader_version}" if c.grader else None)
    field("explanation", c.grade_explanation)
    field("target", None if d.target is None else json.dumps(d.target)[:500])
    if c.judge_model or c.judge_output:
        section("judge")
        field("judge model", c.judge_model)
        field("judge dollars", _money(c.judge_cost))
        field("judge tokens", f"prompt {c.judge_prompt_tokens}, "
                              f"completion {c.judge_completion_tokens}")
        text.append(f"{c.judge_output or ''}\n")
    section("prompt")
    for message in d.messages or [{"role": "?", "content": "(item not in the store)"}]:
        text.append(f"[{message.get('role')}]\n", style="italic")
        text.append(f"{message.get('content', '')}\n")
    section("response")
    text.append(f"{c.response if c.response is not None else '(no response)'}\n")
    return text


class ItemScreen(Screen[None]):
    """One cell: prompt, response, extracted answer, grade, judge, tokens, dollars, status."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, cell_id: int) -> None:
        super().__init__()
        self.cell_id = cell_id
        self.detail: CellDetail | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="item-scroll"):
            yield Static(Text(f"loading cell {self.cell_id}..."), id="item-body")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self._read, thread=True, name="item-load")

    def _read(self) -> None:
        app: Any = self.app
        detail = cell_detail(app.store, self.cell_id)
        self.app.call_from_thread(self.show, detail)

    def show(self, detail: CellDetail) -> None:
        self.detail = detail
        self.query_one("#item-body", Static).update(detail_text(detail))
