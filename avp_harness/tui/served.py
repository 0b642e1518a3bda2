"""The served screen: what `avp serve` answered from this store, as `avp served` prints it.

Totals (requests, failures, dollars, tokens) and the model mix, then one row per hour (UTC)
with its requests, failures, dollars and mix, newest first. Read again every few seconds while
the screen is shown, so a running server's traffic appears as it comes.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from avp_harness.app.serving import model_mix, served_report
from avp_harness.store.served import served_buckets

REFRESH_S = 5.0


class ServedScreen(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="served-banner", classes="banner")
        yield DataTable(id="served-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#served-table", DataTable)
        table.add_columns("hour (UTC)", "requests", "failed", "dollars", "models")
        self.set_interval(REFRESH_S, self.load)
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    def reopen(self) -> None:
        self.load()

    def load(self) -> None:
        app: Any = self.app
        if app.store is None:
            self.query_one("#served-banner", Static).update(
                Text(app.store_error or "", style="bold red"))
            return
        self.run_worker(self._read, thread=True, exclusive=True, group="served",
                        name="served-load")

    def _read(self) -> None:
        app: Any = self.app
        report = served_report(served_buckets(app.store, None, 3600.0))
        self.app.call_from_thread(self.show, report)

    def show(self, report: dict[str, Any]) -> None:
        total = report["total"]
        banner = self.query_one("#served-banner", Static)
        table = self.query_one("#served-table", DataTable)
        table.clear()
        if not total["requests"]:
            banner.update(Text("no requests served from this store yet (avp serve ROUTER)",
                               style="italic"))
            return
        unpriced = f" ({total['unpriced']} without a price)" if total["unpriced"] else ""
        banner.update(Text(
            f"{total['requests']} requests served, {total['failed']} failed, "
            f"${total['dollars']:.4f}{unpriced}; tokens {total['prompt_tokens']} in, "
            f"{total['completion_tokens']} out\nmodels: {model_mix(total['models'])}"))
        for b in reversed(report["buckets"]):
            failed = Text(str(b["failed"]), style="bold red" if b["failed"] else "")
            table.add_row(time.strftime("%Y-%m-%d %H:00", time.gmtime(b["start"])),
                          str(b["requests"]), failed, f"{b['dollars']:.4f}",
                          model_mix(b["models"]), key=str(b["start"]))
