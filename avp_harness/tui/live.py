"""The live screen: the model x benchmark grid, the providers and the run's totals.

Rows are models, columns benchmarks; a cell reads `done/total accuracy $dollars` plus `e` failed
cells, `t` answers cut at max_tokens (graded), `x` prompts longer than the context window (done,
not graded) and `r` rate-limited cells when there are any. The
grid comes from the store (so a TUI in another terminal sees the same figures), read by
`LiveAggregator` in a thread worker every `app.refresh_s`; an in-process run adds the providers'
live concurrency, requests and 429s.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from avp_harness.store.cells import CellFilter, LiveAggregator, LiveCell, LiveSnapshot


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def money(dollars: float) -> str:
    """Dollars in at most 7 characters, 2 significant figures or more from $0.001: $0,
    $0.0022, $0.0216, $0.10, $12.35, $123, $12.3k."""
    if dollars == 0:
        return "$0"
    if dollars < 0.1:
        return f"${dollars:.4f}"
    if dollars < 100:
        return f"${dollars:.2f}"
    if dollars < 10_000:
        return f"${dollars:.0f}"
    return f"${dollars / 1000:.1f}k"


def cell_text(c: LiveCell) -> Text:
    """One grid cell: done/total, accuracy, dollars, then failed (e), truncated at max_tokens (t),
    context exceeded (x) and rate-limited (r) counts, each in full (the column widens to fit)."""
    total = "?" if c.planned is None else str(c.planned)
    accuracy = f"{c.accuracy:.0%}" if c.accuracy is not None else "-"
    text = Text(f"{c.done}/{total} {accuracy:>4} {money(c.dollars)}")
    if c.errors:
        text.append(f" e{c.errors}", style="bold red")
    if c.truncated:
        text.append(f" t{c.truncated}", style="magenta")
    if c.context_exceeded:
        text.append(f" x{c.context_exceeded}", style="cyan")
    if c.rate_limited:
        text.append(f" r{c.rate_limited}", style="yellow")
    if c.planned and c.done >= c.planned:
        text.stylize("green", 0, len(f"{c.done}/{total}"))
    return text


def banner_text(snap: LiveSnapshot, paused: bool, collecting: bool) -> Text:
    """The run's line: its own cells against what it planned; throughput and ETA only while it
    runs (a finished, interrupted or stopped run has none)."""
    run = snap.run or {}
    done, planned = snap.done, snap.planned
    if snap.run_planned:
        done, planned = snap.run_done, snap.run_planned
    pct = f" ({done / planned:.0%})" if planned else ""
    projected = "?" if snap.projected_to_finish is None else f"${snap.projected_to_finish:.4f}"
    running = collecting or run.get("status") == "running"
    text = Text()
    if run:
        status = "collecting here" if collecting else run.get("status", "?")
        text.append(f"run {run.get('id')} {status}  ", style="bold")
    text.append(f"cells {done}/{planned}{pct}  failed {snap.errors}  ")
    truncated = sum(c.truncated for c in snap.cells)
    if truncated:
        text.append(f"truncated {truncated}  ", style="magenta")
    too_long = sum(c.context_exceeded for c in snap.cells)
    if too_long:
        text.append(f"context exceeded {too_long}  ", style="cyan")
    text.append(f"spent ${snap.spent:.4f}  to finish {projected}  ")
    if run.get("budget") is not None:
        text.append(f"budget ${run['budget']:.2f}  ")
    if running:
        text.append(f"{snap.throughput:.1f} cells/s  ETA {duration(snap.eta_s)}")
    if paused:
        text.append("  PAUSED", style="bold reverse yellow")
    return text


def concurrency_text(active: int, bound: int, most: int) -> str:
    """In flight / the adaptive bound, of the configured maximum. After the bound is cut, calls
    already in flight finish: shown apart, so the fraction never reads 3/2."""
    if active <= bound:
        return f"{active}/{bound} of {most}"
    return f"{bound}/{bound} of {most} +{active - bound} finishing"


def hidden_columns(widths: list[int], view: int, scroll_x: int, fixed: int = 1) -> tuple[int,
                                                                                          int]:
    """(columns left of the view, columns right of it) of a grid whose first `fixed` columns stay
    put: `widths` are rendered widths (padding included), `view` the visible width."""
    start = sum(widths[:fixed])
    left = right = 0
    x = start
    for w in widths[fixed:]:
        if x < start + scroll_x:
            left += 1
        elif x + w > scroll_x + view:
            right += 1
        x += w
    return left, right


class LiveScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "drill", "Items"),
        Binding("p", "pause", "Pause/resume"),
        Binding("r", "refresh_now", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.aggregator: LiveAggregator | None = None
        self.snapshot: LiveSnapshot | None = None
        self._lock = threading.Lock()
        self._columns: list[str] = []
        self._rows: list[str] = []
        self._widths: dict[str, int] = {}  # column key -> width: grows to fit, never shrinks

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="live-banner", classes="banner")
        yield DataTable(id="live-grid", cursor_type="cell", zebra_stripes=True, fixed_columns=1)
        yield Static(id="live-hint", classes="hint")
        yield DataTable(id="live-providers", cursor_type="none")
        yield Footer()

    def on_mount(self) -> None:
        app: Any = self.app
        providers = self.query_one("#live-providers", DataTable)
        providers.add_columns("provider", "in flight/bound", "req/min", "requests", "429s")
        grid = self.query_one("#live-grid", DataTable)
        self.watch(grid, "scroll_x", lambda _x: self._hint(), init=False)
        self.set_interval(app.refresh_s, self.request_refresh)
        self.reopen()

    def reopen(self) -> None:
        """Start reading the store (once it exists), or read it again now."""
        app: Any = self.app
        if app.store is None:
            self.query_one("#live-banner", Static).update(
                Text(f"{app.store_error}\nit is looked for every {app.refresh_s:g}s (o: now)",
                     style="bold red"))
            return
        if self.aggregator is None:
            self.aggregator = LiveAggregator(app.store)
        self.request_refresh()

    def on_resize(self) -> None:
        self._hint()

    # -- reading ------------------------------------------------------------------------------
    def request_refresh(self) -> None:
        app: Any = self.app
        if self.aggregator is None and app.store is not None:
            self.aggregator = LiveAggregator(app.store)
        if self.aggregator is not None:
            self.run_worker(self._read, thread=True, group="live", name="live-refresh")

    def _read(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # a refresh is already running: skip this tick
        try:
            assert self.aggregator is not None
            snapshot = self.aggregator.refresh()
        finally:
            self._lock.release()
        self.app.call_from_thread(self.show, snapshot)

    # -- drawing ------------------------------------------------------------------------------
    def show(self, snap: LiveSnapshot) -> None:
        app: Any = self.app
        self.snapshot = snap
        paused = app.collector is not None and app.collector.paused
        banner = banner_text(snap, paused, app.collecting)
        if not snap.cells:
            banner.append("\nthe store has no cells yet: run `avp run` or `avp demo`",
                          style="italic")
        self.query_one("#live-banner", Static).update(banner)
        self._draw_grid(snap)
        self._draw_providers(snap)

    def _draw_grid(self, snap: LiveSnapshot) -> None:
        grid = self.query_one("#live-grid", DataTable)
        models, benches = snap.models, snap.benchmarks
        rows = {m: [self._cell(snap, m, b) for b in benches] for m in models}
        widths = {"model": max(map(len, ["model", *models]))}
        for i, bench in enumerate(benches):
            widths[bench] = max([len(bench), *(r[i].cell_len for r in rows.values())])
        grown = any(w > self._widths.get(k, 0) for k, w in widths.items())
        if models != self._rows or benches != self._columns or grown:
            # explicit widths (auto-sized columns kept their label's width here), never narrower
            # than before, so the grid does not jump as figures change
            self._widths = {k: max(w, self._widths.get(k, 0)) for k, w in widths.items()}
            cursor = grid.cursor_coordinate
            grid.clear(columns=True)
            grid.add_column("model", key="model", width=self._widths["model"])
            for bench in benches:
                grid.add_column(bench, key=bench, width=self._widths[bench])
            for model in models:
                grid.add_row(model, *rows[model], key=model)
            self._rows, self._columns = models, benches
            if models:
                grid.cursor_coordinate = grid.validate_cursor_coordinate(cursor)
        else:
            for model in models:
                for i, bench in enumerate(benches):
                    grid.update_cell(model, bench, rows[model][i])
        self.call_after_refresh(self._hint)

    def _hint(self) -> None:
        """Say which way hidden benchmark columns are, when the grid is wider than the screen."""
        grid = self.query_one("#live-grid", DataTable)
        hint = self.query_one("#live-hint", Static)
        pad = 2 * grid.cell_padding
        widths = [self._widths.get(k, 0) + pad for k in ["model", *self._columns]]
        left, right = hidden_columns(widths, grid.scrollable_content_region.width,
                                     round(grid.scroll_x))
        parts = []
        if left:
            parts.append(f"← {left} benchmark{'s' * (left > 1)}")
        if right:
            parts.append(f"{right} more benchmark{'s' * (right > 1)} →")
        hint.update(Text("  ·  ".join(parts) + "  (←/→ to scroll)" if parts else "",
                         style="italic"))
        hint.display = bool(parts)

    @staticmethod
    def _cell(snap: LiveSnapshot, model: str, bench: str) -> Text:
        c = snap.cell(model, bench)
        return cell_text(c) if c is not None else Text("")

    def _draw_providers(self, snap: LiveSnapshot) -> None:
        app: Any = self.app
        table = self.query_one("#live-providers", DataTable)
        table.clear()
        live = app.reporter.providers if app.reporter is not None else {}
        from_store = {p.name: p for p in snap.providers}
        for name in sorted(set(from_store) | set(live)):
            stored = from_store.get(name)
            limits = live.get(name)
            rpm = f"{stored.requests_per_min:.0f}" if stored else "0"
            if limits is not None:
                table.add_row(name, concurrency_text(limits.active, limits.concurrency,
                                                     limits.max_concurrency),
                              rpm, str(limits.requests), str(limits.rate_limit_hits))
            else:
                table.add_row(name, "-", rpm, "-", str(stored.rate_limited if stored else 0))

    # -- actions ------------------------------------------------------------------------------
    def action_refresh_now(self) -> None:
        self.request_refresh()

    def action_pause(self) -> None:
        app: Any = self.app
        self.notify(app.toggle_pause())
        if self.snapshot is not None:
            self.show(self.snapshot)

    def action_drill(self) -> None:
        grid = self.query_one("#live-grid", DataTable)
        if not self._rows:
            return
        row, column = grid.cursor_coordinate
        model = self._rows[row] if row < len(self._rows) else None
        bench = self._columns[column - 1] if 0 < column <= len(self._columns) else None
        app: Any = self.app
        app.show_cells(CellFilter(model=model, benchmark=bench))

    def on_data_table_cell_selected(self, _event: DataTable.CellSelected) -> None:
        self.action_drill()
