"""`avp report --html`: a real store collected from the simulated provider, the page opened in a
real headless Chromium (Debian's, driven by Playwright): the matrix's values, the figure's points,
and a drill-down row that opens on a click."""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from avp_harness.cli import main
from avp_harness.collect.runner import Collector
from avp_harness.sim.server import SimServer
from avp_harness.store import Store
from tests.tui.conftest import sim_config

pytestmark = pytest.mark.integration
KEY = "sk-test-0123456789abcdef-report"  # the provider's key: it must appear nowhere in the page
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def store_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = str(tmp_path_factory.mktemp("html") / "runs.db")
    mp = pytest.MonkeyPatch()
    mp.setenv("AVP_TEST_REPORT_KEY", KEY)
    try:
        with SimServer(latency_scale=0.0) as sim:
            config = sim_config(sim.base_url, db, arc=8)
            provider = replace(config.providers["sim"], api_key_env="AVP_TEST_REPORT_KEY")
            config = replace(config, providers={**config.providers, "sim": provider})

            async def collect() -> None:
                with Store.open(db) as store:
                    await Collector(config, store, backoff_initial_s=0.01,
                                    backoff_max_s=0.05).run()

            asyncio.run(collect())
    finally:
        mp.undo()
    assert main(["fit", "--db", db, "--name", "r", "--embedding", "tfidf", "--clusters", "2",
                 "--top-k", "1"]) == 0
    return db


def matrix(db: str) -> dict[tuple[str, str], float]:
    with Store.open(db, create=False) as store:
        return {(r.model, r.benchmark): r.accuracy for r in store.matrix()
                if r.accuracy is not None}


def test_the_page_is_written_without_keys_and_with_every_part(store_db, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", "--db", store_db, "--html", str(out), "--items", "5"]) == 0
    html = out.read_text()
    assert KEY not in html
    assert html.count('<details class="item"') == 5  # --items caps the drill-down
    assert "(5 of 8 items)" in html
    for (model, _bench), acc in matrix(store_db).items():
        assert f'data-model="{model}"' in html and f'data-accuracy="{acc:.6f}"' in html
    assert "<svg" in html and 'id="models"' in html  # no router: the models' figure
    assert "arc_agi" in html and "accuracy" in html  # the per-benchmark metrics table


def test_bad_arguments_are_one_line_errors(store_db, tmp_path, capsys):
    assert main(["report", "--db", store_db, "--html", str(tmp_path / "no" / "x.html")]) == 2
    assert main(["report", "--db", store_db, "--html", str(tmp_path / "x.html"),
                 "--router", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("avp: error:") for line in err)


@pytest.fixture()
def page() -> Any:
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (`make test` installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_in_a_browser_the_matrix_figure_and_drill_down_work(store_db, tmp_path, page):
    pytest.importorskip("matplotlib", reason="the figure needs the plot extra")
    out = tmp_path / "report.html"
    assert main(["report", "--db", store_db, "--html", str(out), "--router", "r"]) == 0
    page.goto(out.resolve().as_uri())
    # the matrix: every graded cell shows the store's accuracy
    for (model, bench), acc in matrix(store_db).items():
        cell = page.locator(f'#matrix-table tr[data-model="{model}"] td[data-benchmark="{bench}"]')
        assert cell.inner_text().startswith(f"{100 * acc:.1f}%")
    # the figure: an SVG whose router series has a marker per α of the sweep's grid (101)
    svg = page.locator("#cost-accuracy svg")
    assert svg.count() == 1 and svg.bounding_box()["width"] > 200
    assert page.locator("#cost-accuracy svg g#router-points use").count() == 101
    assert page.locator("#cost-accuracy svg g#frontier path").count() >= 1
    # a drill-down row: closed, then open on a click, showing each model's extracted answer
    item = page.locator("details.item").first
    assert item.get_attribute("open") is None
    assert not item.locator("table").is_visible()
    item.locator("summary").click()
    item.locator("table").wait_for(state="visible", timeout=30_000)
    assert item.get_attribute("open") is not None
    rows = item.locator("tbody tr")
    assert rows.count() == 3  # the three simulated models
    assert re.fullmatch(r"\d\.\d{4}|–", rows.first.locator("td").nth(1).inner_text())
    assert KEY not in page.content()
    # the file stands alone: nothing but itself was loaded
    assert Path(out).stat().st_size > 0
