"""What real model servers do and the simulator now does too, end to end over loopback.

Truncated answers, context-length rejections, one-at-a-time servers, a provider that is down,
a renamed model and `avp doctor`, each against the simulated provider on 127.0.0.1 and a real
SQLite store.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from avp_harness.cli import main
from avp_harness.sim.server import ServerModes, SimServer
from avp_harness.store import Store
from tests.integration.test_collector import (
    ATLAS,
    FLASH,
    cells,
    collect,
    make_config,
    requests_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with SimServer(latency_scale=0.0, index_only=["arc_agi"]) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_faults(sim: Any) -> Any:
    sim.clear_faults()
    yield
    sim.clear_faults()


def _matrix(db: str) -> dict[tuple[str, str], Any]:
    with Store.open(db, create=False) as store:
        return {(r.model, r.benchmark): r for r in store.matrix()}


def _live_text(db: str, model: str) -> str:
    """The TUI live grid's text for (model, arc_agi)."""
    from avp_harness.store.cells import LiveAggregator
    from avp_harness.tui.live import cell_text

    with Store.open(db, create=False) as store:
        cell = LiveAggregator(store).refresh().cell(model, "arc_agi")
    assert cell is not None
    return cell_text(cell).plain


# ------------------------------------------------------------------ truncation (item 3)
async def test_truncated_answers_are_graded_marked_and_done(
    sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "runs.db")
    # ARC answers are grids of dozens of tokens: 8 tokens cut every one of them
    config = make_config(sim.base_url, db, [ATLAS, FLASH], arc=3,
                         model_overrides={ATLAS: {"max_tokens": 8}})
    summary = await collect(config, db)
    assert summary.status == "completed" and summary.ok == 6
    assert summary.truncated == 3
    rows = cells(db)
    cut = [r for r in rows if r.model == ATLAS]
    assert {(r.status, r.finish_reason) for r in cut} == {("ok", "length")}
    assert all(r.score is not None and r.grader for r in cut)  # graded, not dropped
    assert {r.finish_reason for r in rows if r.model == FLASH} == {"stop"}
    matrix = _matrix(db)
    assert (matrix[(ATLAS, "arc_agi")].truncated, matrix[(ATLAS, "arc_agi")].done) == (3, 3)
    assert matrix[(FLASH, "arc_agi")].truncated == 0
    # done means done: the next run requests nothing
    again = await collect(config, db)
    assert again.already_done == 6 and again.attempted == 0
    # `avp status` shows the count in its own column
    assert main(["status", "--db", db, "--json"]) == 0
    status = {(r["model"], r["benchmark"]): r for r in json.loads(capsys.readouterr().out)}
    assert status[(ATLAS, "arc_agi")]["truncated"] == 3
    assert main(["status", "--db", db]) == 0
    matrix_text = capsys.readouterr().out  # the matrix marks them t3, with a legend
    assert "t3" in next(line for line in matrix_text.splitlines() if ATLAS in line)
    assert "truncated at max_tokens" in matrix_text
    assert main(["status", "--db", db, "--long"]) == 0
    table = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(table)  # the header of its block
                 if line.startswith("benchmark") and "truncated" in line)
    header = table[start]
    atlas_line = next(line for line in table[start:] if ATLAS in line)
    at = header.index("truncated") + len("truncated")  # right-aligned under its header
    assert atlas_line[:at].split()[-1] == "3", "\n".join(table)
    # the TUI's live grid and its CLI twin count them too
    assert _live_text(db, ATLAS).endswith(" t3")
    assert main(["progress", "--db", db]) == 0
    assert "truncated 3 context-exceeded 0" in capsys.readouterr().out


# ------------------------------------------------------------------ context length (item 5)
@pytest.fixture(scope="module")
def sim_small_context() -> Any:
    # of the first 6 ARC prompts (176..3485 tokens), 2 are longer than 1500 tokens
    with SimServer(latency_scale=0.0, index_only=["arc_agi"],
                   modes=ServerModes(context_tokens=1500)) as server:
        yield server


async def test_context_length_rejections_are_final_counted_and_reported(
    sim_small_context: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_small_context
    db = str(tmp_path / "runs.db")
    config = make_config(sim.base_url, db, [ATLAS], arc=6)
    since = time.time()
    summary = await collect(config, db)
    assert summary.status == "completed" and summary.remaining == 0
    assert (summary.ok, summary.context_exceeded) == (4, 2)
    too_long = [r for r in cells(db) if r.status == "context_exceeded"]
    assert len(too_long) == 2 and all(r.attempts == 1 for r in too_long)  # never retried
    assert all("context" in (r.error or "") for r in too_long)
    log = requests_for(sim, since, ATLAS)
    assert len(log) == 6 and sorted(e["status"] for e in log) == [200] * 4 + [400] * 2
    # not re-sent on the next run: done, and left out of the figures
    since = time.time()
    again = await collect(config, db)
    assert (again.already_done, again.attempted) == (6, 0)
    assert requests_for(sim, since) == []
    row = _matrix(db)[(ATLAS, "arc_agi")]
    assert (row.done, row.planned, row.context_exceeded, row.graded) == (6, 6, 2, 4)
    # the report says how many planned items its figures leave out, and why
    assert main(["report", "--db", db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["arc_agi"][ATLAS]
    assert (report["n"], report["planned"]) == (4, 6)
    assert report["left_out"] == {"context_exceeded": 2}
    assert main(["report", "--db", db]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"{ATLAS}: leaves out 2 of 6 planned items (context exceeded 2)" in text
    assert main(["status", "--db", db, "--json"]) == 0
    (status,) = json.loads(capsys.readouterr().out)
    assert status["context_exceeded"] == 2 and status["errors"] == 0
    # the TUI's live grid: done 6/6 (green), no failures, 2 marked x
    text = _live_text(db, ATLAS)
    assert text.startswith("6/6") and " e" not in text and text.endswith(" x2")


async def test_report_counts_failed_and_not_yet_run_items(
    sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "runs.db")
    sim.add_faults([{"fault": "401", "count": 1, "model": ATLAS}])
    await collect(make_config(sim.base_url, db, [ATLAS], arc=3), db, budget=None)
    # a bigger plan not run yet: its latest plan counts 5, 2 graded, 1 failed, 2 not yet run
    with Store.open(db) as store:
        from avp_harness.collect.plan import build_plan

        plan = build_plan(make_config(sim.base_url, db, [ATLAS], arc=5))
        store.start_run(plan.entries)
    assert main(["report", "--db", db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["arc_agi"][ATLAS]
    assert report["n"] == 2
    assert report["left_out"] == {"failed": 1, "not_yet_run": 2}


# ---------------------------------------------------------- one-at-a-time servers (item 6)
GENERATION_S = 0.3  # with a 3 s client timeout: 16 in flight do not fit, 4 do (with margin)
TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def sim_serial() -> Any:
    # llama-cpp-python's way: one generation at a time, others queue, and a request whose
    # client gave up is generated anyway
    with SimServer(latency_scale=0.0, index_only=["arc_agi"],
                   modes=ServerModes(serial=True, generation_s=GENERATION_S)) as server:
        yield server


def _serial_config(base_url: str, db: str, arc: int, **provider: Any) -> Any:
    from avp_harness.config import config_from_dict

    models = [{"id": m, "provider": "local"} for m in (ATLAS, FLASH)]
    return config_from_dict({
        "db": db,
        # no max_concurrency: a server on 127.0.0.1 gets the local default
        "providers": {"local": {"base_url": base_url, "timeout_s": TIMEOUT_S, **provider}},
        "models": models,
        "benchmarks": [{"name": "arc_agi", "limit": arc}],
    }, None)


@pytest.mark.slow
async def test_serial_server_with_the_default_config_wastes_nothing(
    sim_serial: Any, tmp_path: Path
) -> None:
    db = str(tmp_path / "runs.db")
    config = _serial_config(sim_serial.base_url, db, arc=10)
    assert config.providers["local"].max_concurrency == 4
    before = sim_serial.stats()
    summary = await collect(config, db)
    after = sim_serial.stats()
    assert summary.ok == 20 and summary.timed_out == 0
    assert after["requests"] - before["requests"] == 20  # one generation per answer
    rows = cells(db)
    # stored latency is the request's (queueing included); the server's own timing is kept too
    assert all(r.server_time_s is not None and r.server_time_s >= GENERATION_S * 0.9
               for r in rows)
    assert all(r.latency_s >= r.server_time_s for r in rows)
    assert max(r.latency_s - r.server_time_s for r in rows) > GENERATION_S  # it did queue


@pytest.mark.slow
async def test_serial_server_at_16_in_flight_wastes_only_the_first_wave(
    sim_serial: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from avp_harness.collect.reporter import PlainReporter
    from avp_harness.collect.runner import Collector

    db = str(tmp_path / "runs.db")
    # 16 in flight x 0.3 s a generation > the 3 s timeout: the first wave times out
    config = _serial_config(sim_serial.base_url, db, arc=12, max_concurrency=16)
    before = sim_serial.stats()
    store = Store.open(db)
    try:
        collector = Collector(config, store, reporter=PlainReporter(), backoff_initial_s=0.05,
                              backoff_max_s=0.2)
        summary = await collector.run()
    finally:
        store.close()
    after = sim_serial.stats()
    limits = collector.limits["local"]
    figures = (summary.as_dict(), limits.concurrency, limits.late_timeouts, before, after)
    assert summary.ok == 24 and summary.status == "completed", figures
    assert summary.timed_out > 0 and limits.concurrency < 16, figures
    # no request sent after the first timeout timed out: only the first wave was wasted
    assert limits.late_timeouts == 0, figures
    # the simulator generated every request: the answers plus what the summary counts as wasted
    generated = after["requests"] - before["requests"]
    assert generated == summary.ok + summary.timed_out, figures
    # (a client may give up just as its answer is written: the server then counts no abandon)
    abandoned = after["generations"].get("abandoned", 0) - before["generations"].get(
        "abandoned", 0)
    assert 0 < abandoned <= summary.timed_out, figures
    assert "timed out after 3s" in capsys.readouterr().err
    from avp_harness.cli.collect_cmds import _print_summary

    _print_summary(summary)
    assert f"{summary.timed_out} requests timed out client-side" in capsys.readouterr().err


# ---------------------------------------------------------- a provider that is down (item 7)
def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again on leaving: nothing listens there


def test_a_dead_provider_is_stopped_with_one_line_and_the_others_carry_on(
    sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_url = f"http://127.0.0.1:{_closed_port()}/v1"
    db = str(tmp_path / "runs.db")
    config = tmp_path / "avp.toml"
    config.write_text(f"""
db = "{db}"
[providers.live]
base_url = "{sim.base_url}"
[providers.down]
base_url = "{dead_url}"
[[models]]
id = "{ATLAS}"
provider = "live"
[[models]]
id = "{FLASH}"
provider = "down"
[[benchmarks]]
name = "arc_agi"
limit = 8
""")
    code = main(["run", "--config", str(config), "--progress", "plain"])
    err = capsys.readouterr().err
    assert code == 6, err  # a provider was down (4 is a failed store write)
    down_lines = [line for line in err.splitlines() if "is down" in line]
    assert len(down_lines) == 2, err  # when it happens, and in the summary
    assert all(dead_url in line for line in down_lines), down_lines
    assert "Traceback" not in err
    rows = cells(db)
    assert sorted(r.status for r in rows if r.model == ATLAS) == ["ok"] * 8  # carried on
    down = [r for r in rows if r.model == FLASH]
    # stopped: only the cells in flight when it was declared down were attempted at all
    assert len(down) <= 4 and all(r.status == "error" for r in down)
    assert all(dead_url.removesuffix("/v1") in (r.error or "") for r in down)
    assert sum(r.attempts for r in down) <= 4 * 6
    # the next run tries again (the provider may be up by then) and stops again just as fast
    assert main(["run", "--config", str(config), "--progress", "plain"]) == 6
    capsys.readouterr()


# ---------------------------------------------------------- a renamed model (item 8)
def _labelled_config(base_url: str, db: str, label: str, arc: int = 4) -> Any:
    from avp_harness.config import config_from_dict

    return config_from_dict({
        "db": db,
        "providers": {"sim": {"base_url": base_url, "max_concurrency": 8}},
        "models": [{"id": label, "model": ATLAS, "provider": "sim"},
                   {"id": "small", "model": FLASH, "provider": "sim"}],
        "benchmarks": [{"name": "arc_agi", "limit": arc}],
    }, None)


async def test_a_renamed_model_is_done_under_its_new_id_everywhere(
    sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from avp_harness.collect.plan import build_plan
    from avp_harness.store.cells import LiveAggregator

    db = str(tmp_path / "runs.db")
    first = await collect(_labelled_config(sim.base_url, db, "atlas"), db)
    assert first.ok == 8
    # the same provider, model name and parameters under another id: the same model
    renamed = _labelled_config(sim.base_url, db, "atlas-2026")
    since = time.time()
    again = await collect(renamed, db)
    assert (again.already_done, again.attempted) == (8, 0)
    assert requests_for(sim, since) == []
    with Store.open(db) as store:
        plan = build_plan(renamed)
        for matrix in (store.matrix(plan.entries), store.matrix()):  # run's and status' views
            rows = {(r.model, r.benchmark): r for r in matrix}
            assert set(rows) == {("atlas-2026", "arc_agi"), ("small", "arc_agi")}
            assert (rows[("atlas-2026", "arc_agi")].done,
                    rows[("atlas-2026", "arc_agi")].planned) == (4, 4)
            assert rows[("atlas-2026", "arc_agi")].graded == 4
        live = LiveAggregator(store).refresh()
        cell = live.cell("atlas-2026", "arc_agi")
        assert cell is not None and (cell.done, cell.planned) == (4, 4)
        assert live.cell("atlas", "arc_agi") is None
    assert main(["report", "--db", db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["arc_agi"]
    assert set(report) == {"atlas-2026", "small"} and report["atlas-2026"]["n"] == 4
    # a changed parameter is another model: new cells, however it is labelled
    changed = _labelled_config(sim.base_url, db, "atlas-2026", arc=4)
    changed = type(changed)(**{**changed.__dict__, "models": (
        type(changed.models[0])(**{**changed.models[0].__dict__, "temperature": 0.5}),
        changed.models[1])})
    assert (await collect(changed, db)).attempted == 4


def test_two_ids_for_one_configuration_are_refused(tmp_path: Path) -> None:
    from avp_harness.config import config_from_dict
    from avp_harness.errors import ConfigError

    with pytest.raises(ConfigError, match="one model under two ids"):
        config_from_dict({
            "providers": {"sim": {"base_url": "http://127.0.0.1:1/v1"}},
            "models": [{"id": "a", "model": ATLAS, "provider": "sim"},
                       {"id": "b", "model": ATLAS, "provider": "sim"}],
            "benchmarks": [{"name": "arc_agi"}],
        }, None)


# ---------------------------------------------------------- avp doctor (item 9)
def test_doctor_probes_each_model_and_shows_the_servers_template_and_timing(
    sim_serial: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "avp.toml"
    config.write_text(f"""
[providers.llamacpp]
base_url = "{sim_serial.base_url}"
[providers.other]
base_url = "{sim_serial.base_url}"
[[models]]
id = "{ATLAS}"
provider = "llamacpp"
[[models]]
id = "gone"
model = "sim/no-such-model"
provider = "llamacpp"
[[models]]
id = "{FLASH}"
provider = "other"
[[benchmarks]]
name = "arc_agi"
""")
    before = sim_serial.stats()["requests"]
    code = main(["doctor", "llamacpp", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 1, out  # one of the two probes failed
    assert sim_serial.stats()["requests"] - before == 2  # one probe per model of that provider
    assert "chat template (" in out and "<|im_start|>" in out
    assert "1 slot(s) but max_concurrency 4" in out
    atlas = out[out.index(f"{ATLAS} (sent as"):]
    assert "finish stop" in atlas and "completion tokens" in atlas and "server 0." in atlas
    assert "reply: '" in atlas
    failed = next(line for line in out.splitlines() if line.startswith("gone:"))
    assert "FAILED" in failed and sim_serial.base_url in failed and "404" in failed
    assert FLASH not in out  # another provider's model is not probed

    assert main(["doctor", "llamacpp", "--config", str(config), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["props"]["total_slots"] == 1
    (ok,) = [p for p in data["probes"] if "error" not in p]
    assert ok["model"] == ATLAS and ok["finish_reason"] == "stop" and ok["completion_tokens"] > 0
    assert ok["server_time_s"] >= GENERATION_S * 0.9
    assert ok["request_latency_s"] >= ok["server_time_s"]

    assert main(["doctor", "nope", "--config", str(config)]) == 2
    assert "unknown provider 'nope'" in capsys.readouterr().err
