"""AvpApp: the TUI's application object, and `build_app`, the one factory for the CLI and tests.

    app = build_app("runs.db")                                  # watch a store (`avp tui`)
    app = build_app("runs.db", config=config, budget=5.0)       # run the collector in-process
    app.run()

Screens are Textual modes, one key each: 1 live, 2 results, 3 router inspector, 4 route, 5 what
`avp serve` served; `?` help.
The store is opened once; every query runs in a thread worker. A store that is missing at start
is looked for again every `refresh_s` and on `o`, and the screens start showing it once it exists.
With a config, the collector runs as an async worker on the app's event loop; `p` pauses /
resumes its scheduling and quitting asks it to stop and waits for its writer to flush before the
app exits.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from avp_harness.errors import AvpError
from avp_harness.redact import redact_url
from avp_harness.store import Store
from avp_harness.store.cells import CellFilter
from avp_harness.tui.help import HelpScreen
from avp_harness.tui.live import LiveScreen
from avp_harness.tui.reporter import Progress, TuiReporter
from avp_harness.tui.results import ResultsScreen
from avp_harness.tui.router import RouterScreen, RouteScreen
from avp_harness.tui.served import ServedScreen


class AvpApp(App[Any]):
    """Watch a store (and optionally run the collector): see the module docstring."""

    CSS_PATH = "avp.tcss"
    TITLE = "avp"
    MODES = {
        "live": LiveScreen,
        "results": ResultsScreen,
        "router": RouterScreen,
        "route": RouteScreen,
        "served": ServedScreen,
    }
    DEFAULT_MODE = "live"
    BINDINGS = [
        Binding("1", "switch_mode('live')", "Live"),
        Binding("2", "switch_mode('results')", "Results"),
        Binding("3", "switch_mode('router')", "Router"),
        Binding("4", "switch_mode('route')", "Route"),
        Binding("5", "switch_mode('served')", "Served", show=False),  # footer full: in help
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("o", "open_store", "Open/refresh"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        db: str,
        *,
        config: Any = None,
        budget: float | None = None,
        refresh_s: float = 1.0,
        collector_options: dict[str, Any] | None = None,
        start_paused: bool = False,
    ) -> None:
        super().__init__()
        self.start_paused = start_paused
        self.db = db
        self.config = config
        self.budget = budget
        self.refresh_s = refresh_s
        self.collector_options = collector_options or {}
        self.store: Store | None = None
        self.store_error: str | None = None
        self.collector: Any = None
        self.collector_worker: Worker[Any] | None = None
        self.reporter: TuiReporter | None = None
        self.summary: Any = None
        self.messages: list[str] = []
        self.cell_filter = CellFilter()
        self.alpha = 0.5
        self.router_name: str | None = None
        self.router_view: Any = None
        self._store_timer: Any = None
        self.sub_title = redact_url(db)  # never a database password on screen

    # -- lifecycle ----------------------------------------------------------------------------
    def on_load(self) -> None:
        """Open the store before the first screen mounts (a missing one is shown, not raised)."""
        try:
            self.store = Store.open(self.db, create=self.config is not None)
        except AvpError as exc:
            self.store_error = str(exc)

    def try_open_store(self) -> bool:
        """Open the store if it was missing (created since): True when it is open now."""
        if self.store is not None:
            return True
        try:
            self.store = Store.open(self.db, create=False)
        except AvpError as exc:
            self.store_error = str(exc)
            return False
        self.store_error = None
        self.notify(f"opened {redact_url(self.db)}")
        reopen = getattr(self.screen, "reopen", None)
        if reopen is not None:
            reopen()
        return True

    def _check_store(self) -> None:
        if self.try_open_store() and self._store_timer is not None:
            self._store_timer.stop()
            self._store_timer = None

    def action_open_store(self) -> None:
        """`o`: open a store created since start, or refresh the current screen."""
        if self.store is None:
            if not self.try_open_store():
                self.notify(self.store_error or "no store", severity="error")
            return
        reopen = getattr(self.screen, "reopen", None)
        if reopen is not None:
            reopen()

    def on_mount(self) -> None:
        self._store_timer = (self.set_interval(self.refresh_s, self._check_store)
                             if self.store is None else None)
        if self.config is not None and self.store is not None:
            from avp_harness.collect.runner import Collector

            self.reporter = TuiReporter(self)
            self.collector = Collector(self.config, self.store, reporter=self.reporter,
                                       budget=self.budget, **self.collector_options)
            if self.start_paused:  # nothing is scheduled until `p` (the plan is shown first)
                self.collector.pause()
            self.collector_worker = self.run_worker(
                self._collect(), name="collector", group="collector", exit_on_error=False
            )

    async def _collect(self) -> Any:
        self.summary = await self.collector.run()
        return self.summary

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name == "collector" and event.state is WorkerState.ERROR:
            error = event.worker.error
            self.messages.append(f"collector failed: {error}")
            self.notify(f"collector failed: {error}", severity="error", timeout=10)

    def on_progress(self, message: Progress) -> None:
        if message.text:
            self.messages.append(message.text)
        if message.finished is not None:
            self.summary = message.finished
            self.notify(message.text or "run finished")
        live = self.get_screen_if_live()
        if live is not None:
            live.request_refresh()

    def get_screen_if_live(self) -> LiveScreen | None:
        return self.screen if isinstance(self.screen, LiveScreen) else None

    # -- actions ------------------------------------------------------------------------------
    @property
    def collecting(self) -> bool:
        return self.collector_worker is not None and self.collector_worker.is_running

    def toggle_pause(self) -> str:
        """Pause or resume the in-process collector's scheduling; returns what happened."""
        if self.collector is None:
            return "pause works when the collector runs in this process (avp run --tui)"
        if not self.collecting:
            return "the run has finished"
        if self.collector.paused:
            self.collector.resume()
            return "resumed"
        self.collector.pause()
        return "paused: calls in flight finish, no new ones start"

    def show_cells(self, flt: CellFilter) -> None:
        """Drill down: the results screen with this filter."""
        self.cell_filter = flt
        self.switch_mode("results")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Stop the collector gracefully (its writer flushes), then leave."""
        if self.collecting and self.collector is not None and self.collector_worker is not None:
            self.notify("stopping the collector: finishing writes...")
            self.collector.request_stop()
            with suppress(WorkerCancelled, WorkerFailed):  # reported by on_worker_state_changed
                await self.collector_worker.wait()
        if self.store is not None:
            self.store.close()
        self.exit(self.summary)


def build_app(
    db: str,
    *,
    config: Any = None,
    budget: float | None = None,
    refresh_s: float = 1.0,
    collector_options: dict[str, Any] | None = None,
    start_paused: bool = False,
) -> AvpApp:
    """The app for a store; with `config`, it also runs the collector in-process (paused until
    `p` with `start_paused`)."""
    return AvpApp(db, config=config, budget=budget, refresh_s=refresh_s,
                  collector_options=collector_options, start_paused=start_paused)
