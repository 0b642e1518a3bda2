"""The help screen: every key, per screen (the footer shows the current screen's keys)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
Everywhere  1 live 2 results 3 router 4 route 5 served ? help q quit
            o open a store created since start, or refresh
            (q in an in-process run stops it: finished cells are kept)
Live        arrows move in the grid (the model column stays put; a
            hint says where hidden benchmarks are); Enter: its items
            p pause / resume (avp run --tui only)   r refresh now
Results     Enter opens the item: prompt, response, extracted answer,
            grade, judge, tokens, dollars, latency, status, error
            f status filter (all, failed, wrong, right, ok)
            d disagree  b benchmark  m model  x clear  Esc back (item)
Router      left / right: alpha by 0.01; PgUp / PgDn by 0.1
            o pick a router (one fitted since start too); Enter on a
            cluster: its ranking at this alpha; m every method on the
            same split (avp compare)
Route       / type a query, Enter: the chosen model and every model's
            score at alpha; PgUp / PgDn move alpha; Esc leaves the
            query box, then the screen
Served      avp serve's requests, dollars and model mix per hour
The CLI has the same: avp status / cells / show-cell / routers /
sweep / route / clusters / compare / served.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(Text(HELP.rstrip("\n")), id="help-text")
