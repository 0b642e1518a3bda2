"""The router inspector and the route screen.

Inspector: pick a fitted router (`o`, which also reads the list again; it is also checked every
few seconds, so a router fitted since start appears), move alpha with left / right (0.01) and
PgUp / PgDn (0.1) and see the held-out cost-accuracy curve with its Pareto frontier and every
single model, the usage shares and held-out accuracy / cost at that alpha, and the clusters
(Enter: a cluster's ranking at alpha); `m`: every collaboration method side by side (`avp
compare`). Route: `/` and type a query, see the chosen model and every model's score at alpha;
Esc leaves. The same figures come from `avp sweep`, `avp clusters`, `avp compare` and
`avp route`.
"""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Input, OptionList, Static
from textual_plotext import PlotextPlot

from avp_harness.errors import AvpError
from avp_harness.redact import redact
from avp_harness.tui.router_model import RouterView, inspect_router, router_names

ALPHA_KEYS = [
    Binding("pageup", "alpha(0.1)", "α+.1", show=False, priority=True),
    Binding("pagedown", "alpha(-0.1)", "α-.1", show=False, priority=True),
]


def clamp(alpha: float) -> float:
    return round(min(1.0, max(0.0, alpha)), 4)


class RouterScreen(Screen[None]):
    BINDINGS = [
        Binding("left", "alpha(-0.01)", "α-", priority=True),
        Binding("right", "alpha(0.01)", "α+", priority=True),
        *ALPHA_KEYS,
        Binding("o", "pick", "Routers"),
        Binding("enter", "cluster", "Cluster"),
        Binding("m", "methods", "Methods"),
    ]
    LIST_EVERY_S = 5.0  # how often the router list is read again

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self._pick_next = False  # `o` was pressed: open the picker once the list is read
        self._listing = False  # a read of the list is under way
        self._list_again = False  # read it again when that one ends

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="router-banner", classes="banner")
        with Horizontal(id="router-top"):
            yield PlotextPlot(id="router-plot")
            yield DataTable(id="router-usage", cursor_type="none")
        yield DataTable(id="router-clusters", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#router-usage", DataTable).add_columns("model", "use", "acc", "$")
        self.query_one("#router-clusters", DataTable).add_columns(
            "cl", "size", "best at α", "acc", "$/q", "terms (Enter: samples)")
        self.set_interval(self.LIST_EVERY_S, self.list_routers)
        self.reopen()

    def reopen(self) -> None:
        app: Any = self.app
        if app.store is None:
            self.banner(Text(app.store_error or "", style="bold red"))
            return
        if app.router_view is None:
            self.banner(Text("looking for fitted routers..."))
        self.list_routers()

    def banner(self, text: Text) -> None:
        self.query_one("#router-banner", Static).update(text)

    # -- loading ------------------------------------------------------------------------------
    def list_routers(self) -> None:
        """Read the router list in a thread; one read at a time (asked during one, once more
        after it, so a read asked for by `o` always starts after the key)."""
        app: Any = self.app
        if app.store is None:
            return
        if self._listing:
            self._list_again = True
            return
        self._listing = True
        self.run_worker(self._list, thread=True, group="router-list", name="router-list")

    def _list(self) -> None:
        app: Any = self.app
        try:
            names = router_names(app.store)
        except Exception as exc:  # a store failure (locked, gone) is said, the next check retries
            self.app.call_from_thread(self._list_failed, str(exc))
            return
        self.app.call_from_thread(self._listed, names)

    def _list_failed(self, error: str) -> None:
        self._listing = self._pick_next = False
        self.notify(f"cannot read the router list: {redact(error)}", severity="error")

    def _listed(self, names: list[str]) -> None:
        app: Any = self.app
        self._listing = False
        if self._list_again:
            self._list_again = False
            self.list_routers()
            if self._pick_next:
                return  # the picker opens with the list read after the key
        new = [n for n in names if n not in self.names]
        known, self.names = bool(self.names), names
        if self._pick_next:
            self._pick_next = False
            self._open_picker()
        if not names:
            self.banner(Text(f"no fitted routers in {app.db}: fit one with "
                             "`avp fit --name NAME` (then o to pick it)", style="italic"))
            return
        if known and new:
            self.notify(f"new router{'s' * (len(new) > 1)}: {', '.join(new)} (o to pick)")
        if app.router_view is not None and app.router_view.name in names:
            if not known:
                self.draw()
        elif not self.workers_named("router-load"):
            self.load(app.router_name if app.router_name in names else names[0])

    def workers_named(self, name: str) -> bool:
        return any(w.name == name and w.is_running for w in self.workers)

    def load(self, name: str) -> None:
        self.banner(Text(f"loading router {name!r}: embedding items, sweeping alpha..."))
        self.run_worker(lambda: self._load(name), thread=True, exclusive=True, group="router",
                        name="router-load")

    def _load(self, name: str) -> None:
        app: Any = self.app
        try:
            view = inspect_router(app.store, name)
        except AvpError as exc:
            self.app.call_from_thread(self.banner, Text(str(exc), style="bold red"))
            return
        self.app.call_from_thread(self._loaded, view)

    def _loaded(self, view: RouterView) -> None:
        app: Any = self.app
        app.router_view, app.router_name = view, view.name
        self.draw()
        self.query_one("#router-clusters", DataTable).focus()

    # -- drawing ------------------------------------------------------------------------------
    def draw(self) -> None:
        app: Any = self.app
        view: RouterView | None = app.router_view
        if view is None:
            return
        point = view.at(app.alpha)
        best = view.sweep.best_model
        b_acc, b_cost = view.sweep.single[best]
        text = Text()
        text.append(f"{view.name} ({view.kind}, {len(view.models)} models, "
                    f"{view.sweep.n_test} held-out queries)  ", style="bold")
        text.append(f"α {point.alpha:.2f}  ", style="bold reverse")
        text.append(f"accuracy {point.accuracy:.1%}  cost ${point.cost:.4f}  ")
        text.append(f"(best single {best}: {b_acc:.1%} at ${b_cost:.4f})")
        self.banner(text)
        self._plot(view, point.cost, point.accuracy)
        usage = self.query_one("#router-usage", DataTable)
        usage.clear()
        for model in sorted(view.models, key=lambda m: -point.usage[m]):
            acc, cost = view.sweep.single[model]
            usage.add_row(model, f"{point.usage[model]:.0%}", f"{acc:.0%}", f"{cost:.3f}")
        clusters = self.query_one("#router-clusters", DataTable)
        row = clusters.cursor_row
        clusters.clear()
        for c in view.clusters:
            model, _x, acc, cost = view.ranking(c.id, point.alpha)[0]
            clusters.add_row(str(c.id), str(c.size), model,
                             "-" if math.isnan(acc) else f"{acc:.0%}",
                             "-" if math.isnan(cost) else f"{cost:.5f}",
                             ", ".join(c.terms) or (c.samples[0] if c.samples else ""),
                             key=str(c.id))
        if view.clusters:
            clusters.move_cursor(row=min(row, len(view.clusters) - 1))

    def _plot(self, view: RouterView, cost: float, accuracy: float) -> None:
        widget = self.query_one("#router-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("held-out cost vs accuracy")
        plt.xlabel("$")
        plt.plot(list(view.sweep.cost), list(view.sweep.accuracy), label="router (α)",
                 marker="dot")
        pc, pa = view.pareto()
        plt.plot(list(pc), list(pa), label="Pareto", marker="braille", color="green")
        for model, (acc, c) in view.sweep.single.items():
            plt.scatter([c], [acc], marker="x", label=model[-14:])
        plt.scatter([cost], [accuracy], marker="@", color="red", label="at α")
        widget.refresh()

    # -- actions ------------------------------------------------------------------------------
    def action_alpha(self, step: float) -> None:
        app: Any = self.app
        app.alpha = clamp(app.alpha + step)
        self.draw()

    def action_pick(self) -> None:
        """`o`: read the router list again (a router fitted since start), then pick one."""
        app: Any = self.app
        if app.store is None:
            app.action_open_store()
            return
        self._pick_next = True
        self.list_routers()

    def _open_picker(self) -> None:
        if not self.names:
            self.notify("no fitted routers: avp fit --name NAME")
            return

        def picked(name: str | None) -> None:
            if name:
                self.load(name)

        self.app.push_screen(RouterPicker(self.names), picked)

    def action_cluster(self) -> None:
        app: Any = self.app
        view: RouterView | None = app.router_view
        table = self.query_one("#router-clusters", DataTable)
        if view is not None and view.clusters and 0 <= table.cursor_row < len(view.clusters):
            self.app.push_screen(ClusterScreen(view, table.cursor_row, app.alpha))

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_cluster()

    def action_methods(self) -> None:
        app: Any = self.app
        if app.store is None:
            return
        view: RouterView | None = app.router_view
        self.app.push_screen(CompareScreen(compare_embedding(view)))


def compare_embedding(view: RouterView | None) -> str | None:
    """The embedding `avp compare` uses here: the inspected router's own kind of embedding
    (TF-IDF refitted per split, or the local model), else avp.toml's."""
    spec = view.loaded.embedding.spec if view is not None else None
    return spec if spec in ("tfidf", "local") or str(spec).startswith("api:") else None


class CompareScreen(Screen[None]):
    """`avp compare` in the inspector: every method on the inspected router's held-out split
    (seed 42, 70/30): single models, baselines, Avengers-Pro's Pareto points, the Avengers
    (direct, Self-Consistency, Model-Switch), JiSi router-only and full; what the store cannot
    support is listed below the table with the reason."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, embedding: str | None) -> None:
        super().__init__()
        self.embedding = embedding

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="compare-banner", classes="banner")
        yield DataTable(id="compare-rows", cursor_type="row", zebra_stripes=True)
        yield Static(id="compare-skipped")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#compare-rows", DataTable).add_columns(
            "system", "family", "accuracy", "95% interval", "$", "calls", "frontier")
        self.query_one("#compare-banner", Static).update(Text(
            f"comparing every method ({self.embedding or 'configured'} embedding)..."))
        self.run_worker(self._compare, thread=True, exclusive=True, group="compare",
                        name="compare")

    def _compare(self) -> None:
        from avp_harness.app.compare import CompareRequest, compare

        app: Any = self.app
        try:
            result = compare(app.store, CompareRequest(embedding=self.embedding))
        except AvpError as exc:
            self.app.call_from_thread(self.query_one("#compare-banner", Static).update,
                                      Text(str(exc), style="bold red"))
            return
        self.app.call_from_thread(self.show, result)

    def show(self, result: Any) -> None:
        self.query_one("#compare-banner", Static).update(Text(
            f"{len(result.models)} models, {', '.join(result.benchmarks)}; "
            f"{result.n_test} held-out queries (seed {result.seeds[0]}); "
            f"embedding {result.embedding}", style="bold"))
        table = self.query_one("#compare-rows", DataTable)
        table.clear()
        for row in result.rows:
            table.add_row(row.name, row.family, f"{row.accuracy:.1%}",
                          f"[{row.low:.1%}, {row.high:.1%}]", f"{row.cost:.4f}",
                          f"{row.calls:.0f}", "*" if row.pareto else "", key=row.name)
        lines = [f"not evaluated: {name}: {why}" for name, why in result.skipped.items()]
        self.query_one("#compare-skipped", Static).update(Text("\n".join(lines),
                                                               style="italic"))


class RouterPicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names

    def compose(self) -> ComposeResult:
        yield OptionList(*self.names, id="picker-body")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.names[event.option_index])


def cluster_text(view: RouterView, cluster: int, alpha: float) -> Text:
    c = view.clusters[cluster]
    text = Text(f"cluster {c.id}: {c.size} training queries; ranking at α {alpha:.2f}\n\n",
                style="bold")
    text.append(f"{'rank':>4}  {'model':<28} {'score':>7} {'acc':>6} {'$/query':>10}\n",
                style="underline")
    for rank, (model, x, acc, cost) in enumerate(view.ranking(cluster, alpha), 1):
        fmt = (lambda v, f: "-" if not math.isfinite(v) else format(v, f))  # noqa: E731
        text.append(f"{rank:>4}  {model:<28} {fmt(x, '.3f'):>7} {fmt(acc, '.0%'):>6} "
                    f"{fmt(cost, '.6f'):>10}\n")
    text.append("\ndistinguishing terms: ", style="bold")
    text.append((", ".join(c.terms) or "none stand out") + "\n")
    text.append("\nsample queries (their most distinctive sentence)\n", style="bold underline")
    for sample in c.samples:
        text.append(f"- {sample}\n")
    return text


class ClusterScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, view: RouterView, cluster: int, alpha: float) -> None:
        super().__init__()
        self.view, self.cluster, self.alpha = view, cluster, alpha

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(cluster_text(self.view, self.cluster, self.alpha), id="cluster-body")
        yield Footer()


class RouteScreen(Screen[None]):
    """Type a query (`/` or `i` puts the cursor in the box; until then `?` and the digits are the
    app's keys), Enter routes it and gives the keys back; Esc leaves for the live screen."""

    BINDINGS = [
        Binding("slash", "edit", "Query", key_display="/"),
        Binding("i", "edit", "Query", show=False),
        Binding("pageup", "alpha(0.05)", "α+.05", key_display="PgUp", priority=True),
        Binding("pagedown", "alpha(-0.05)", "α-.05", key_display="PgDn", priority=True),
        Binding("escape", "leave", "Back"),
    ]
    AUTO_FOCUS = "#route-scores"

    def __init__(self) -> None:
        super().__init__()
        self.result: Any = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="route-banner", classes="banner")
        yield Input(placeholder="/ then type a query, Enter to route it", id="route-input")
        yield DataTable(id="route-scores", cursor_type="none")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#route-scores", DataTable).add_columns("", "model", "score")
        self.describe()

    def on_screen_resume(self) -> None:
        self.describe()

    def describe(self) -> None:
        app: Any = self.app
        view = app.router_view
        router = f"router {view.name}" if view else "no router loaded yet (first one is used)"
        self.query_one("#route-banner", Static).update(Text(f"{router}  α {app.alpha:.2f}"))

    def action_edit(self) -> None:
        self.query_one("#route-input", Input).focus()

    def action_leave(self) -> None:
        """Esc: out of the query box first (keys work again), then back to the live screen."""
        box = self.query_one("#route-input", Input)
        if box.has_focus:
            self.query_one("#route-scores", DataTable).focus()
        else:
            self.app.switch_mode("live")

    def action_alpha(self, step: float) -> None:
        app: Any = self.app
        app.alpha = clamp(app.alpha + step)
        self.describe()
        query = self.query_one("#route-input", Input).value
        if query.strip():
            self.route(query)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#route-scores", DataTable).focus()  # the keys are the app's again
        self.route(event.value)

    def route(self, query: str) -> None:
        app: Any = self.app
        if app.store is None:
            self.notify(app.store_error or "no store", severity="error")
            return
        self.run_worker(lambda: self._route(query), thread=True, exclusive=True, name="route")

    def _route(self, query: str) -> None:
        app: Any = self.app
        try:
            view = app.router_view
            if view is None:
                names = router_names(app.store)
                if not names:
                    raise AvpError(f"no fitted routers in {app.db}: avp fit --name NAME")
                view = inspect_router(app.store, app.router_name or names[0])
                app.router_view, app.router_name = view, view.name
            result = view.route(query, app.alpha)
        except AvpError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self.show, result)

    def show(self, result: Any) -> None:
        self.result = result
        self.describe()
        table = self.query_one("#route-scores", DataTable)
        table.clear()
        for model, score in result.scores:
            mark = Text("→", style="bold green") if model == result.chosen else Text("")
            shown = f"{score:.4f}" if math.isfinite(score) else "- (unseen)"
            table.add_row(mark, Text(model, style="bold green" if model == result.chosen else ""),
                          shown)
