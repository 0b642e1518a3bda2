"""The help screen: every key, per screen (the footer shows the current screen's keys)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
avp TUI: watch a collection, browse results, inspect routers.

Everywhere   1 live   2 results   3 router   4 route   ? help   q quit
             (quitting an in-process run stops it gracefully: finished cells are kept)

Live         arrows move in the model x benchmark grid; Enter lists that cell's items
             p pause / resume scheduling (avp run --tui only)   r refresh now
Results      Enter opens the item: prompt, response, extracted answer, grade, judge, tokens,
             dollars, latency, status, error
             f status filter (all, failed, wrong, right, ok)   d disagreements between models
             b benchmark   m model   x clear filters   Esc back (item)
Router       left / right move alpha by 0.01, PgUp / PgDn by 0.1; o pick a router;
             Enter on a cluster shows its ranking at the current alpha
             m every method on the same split (avp compare)
Route        type a query, Enter: the chosen model and every model's score at alpha;
             PgUp / PgDn move alpha

Everything here is also in the CLI: avp status / cells / show-cell / routers / sweep / route /
clusters / compare.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(Text(HELP), id="help-text")
