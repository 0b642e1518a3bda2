"""A router kind defined in the tests goes through `avp fit / sweep / route / routers` and the TUI
router inspector with no change to CLI or TUI code; α is refused by every command and kind; the
`[embedding]` table of avp.toml chooses the embedding of `avp fit`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avp_harness.routing.base import registered
from tests.example_router import BY_RESPONSE, GLOBAL, TOP_TWO
from tests.integration.test_router_cli import MODELS, records, run


@pytest.fixture()
def store(tmp_path, capsys):
    source = tmp_path / "records.jsonl"
    source.write_text(records())
    path = str(tmp_path / "runs.db")
    code, _, _ = run(capsys, "import", "avengers-pro", str(source), "--db", path)
    assert code == 0
    return path


def fit(capsys, db, name, *extra):
    return run(capsys, "fit", "--name", name, "--embedding", "tfidf", "--clusters", "6", *extra,
               "--db", db)


# -- α, refused once for every kind and command (regression: knn printed a score of 4.5) ---------


def test_alpha_outside_0_1_is_a_one_line_error_for_every_kind(store, capsys):
    for kind in ("faithful", "score_sum", "knn"):
        code, _, err = fit(capsys, store, kind, "--kind", kind)
        assert code == 0, err
    cases = [("route", k, "solve x", "--alpha", a) for k in ("faithful", "score_sum", "knn")
             for a in ("5", "-0.1", "nan", "inf")]
    cases += [("sweep", "knn", "--alphas", "0,5"), ("sweep", "faithful", "--alphas", "0:2:0.5"),
              ("onboard", "newbie", "--router", "faithful", "--budget", "1", "--plan-only",
               "--alpha", "5"),
              ("clusters", "faithful", "--alpha", "1.5")]
    for argv in cases:
        code, out, err = run(capsys, *argv, "--db", store)
        assert code == 2 and out == "", (argv, out)
        assert "alpha" in err and len(err.strip().splitlines()) == 1, (argv, err)
    code, out, _ = run(capsys, "route", "knn", "solve x", "--alpha", "1", "--json", "--db", store)
    assert code == 0 and max(v for v in json.loads(out)["scores"].values() if v) <= 1.0


# -- [embedding] in avp.toml (regression: backend = "tfidf" still embedded with local) ----------


def test_fit_embeds_with_the_configured_backend(store, capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("AVP_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "avp.toml").write_text('[embedding]\nbackend = "tfidf"\n')
    code, out, err = run(capsys, "fit", "--name", "cfg", "--clusters", "6", "--db", store)
    assert code == 0 and "embedding tfidf" in out, err
    code, out, _ = run(capsys, "routers", "show", "cfg", "--db", store)
    fitted_on = json.loads(out)["fitted_on"]
    assert fitted_on["embedding"] == "tfidf" and fitted_on["embedding_max_chars"] == 2000

    # max_chars: only the last N characters of a query are embedded, at fit and at route time
    (tmp_path / "avp.toml").write_text('[embedding]\nbackend = "tfidf"\nmax_chars = 24\n')
    code, out, err = run(capsys, "fit", "--name", "cut", "--clusters", "6", "--db", store)
    assert code == 0, err
    queries = ("write a poem about the sea; solve the equation for x",
               "python sorting function. solve the equation for x")
    for name, same in (("cut", True), ("cfg", False)):
        decided = []
        for query in queries:
            code, out, _ = run(capsys, "route", name, query, "--alpha", "0.7", "--json",
                               "--db", store)
            decided.append(json.loads(out)["scores"])
        # the same last 24 characters embed the same; with 2000 characters the heads count
        assert (decided[0] == decided[1]) is same, (name, decided)

    api = tmp_path / "api.toml"
    api.write_text('[embedding]\nbackend = "api"\nprovider = "openrouter"\n'
                   'model = "text-embedding-3-small"\n')
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    code, _, err = run(capsys, "fit", "--name", "api", "--config", str(api), "--db", store)
    assert code == 2 and "OPENROUTER_API_KEY" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("AVP_CONFIG", str(api))
    code, _, err = run(capsys, "fit", "--name", "api", "--db", store)
    assert code == 2 and "OPENROUTER_API_KEY" in err  # $AVP_CONFIG is read too
    code, out, _ = fit(capsys, store, "flag")  # --embedding wins over the config
    assert code == 0 and "embedding tfidf" in out

    (tmp_path / "local.toml").write_text('[embedding]\nbackend = "local"\nmodel = "bge-m3"\n')
    code, _, err = run(capsys, "fit", "--name", "x", "--config", str(tmp_path / "local.toml"),
                       "--db", store)
    assert code == 2 and "embedding.model" in err and "all-MiniLM-L6-v2" in err


# -- a new kind: one module plus one registry line ------------------------------------------------


def test_a_kind_defined_in_the_tests_is_fitted_swept_routed_and_persisted(store, capsys, tmp_path):
    with registered(GLOBAL):
        code, out, err = fit(capsys, store, "g", "--kind", "global")
        assert code == 0 and out.startswith("router 'g' (global, 3 models, 90 items"), err
        code, out, _ = run(capsys, "sweep", "g", "--alphas", "0,0.5,1", "--seeds", "2", "--json",
                           "--db", store)
        report = json.loads(out)
        assert code == 0 and [p["alpha"] for p in report["curve"]] == [0, 0.5, 1]
        assert report["curve"][0]["usage"]["small"] == 1.0  # α = 0: the cheapest everywhere
        assert report["curve"][2]["usage"]["large"] == 1.0  # α = 1: the most accurate
        decided = {}
        for alpha in ("0", "1"):
            code, out, _ = run(capsys, "route", "g", "write a poem", "--alpha", alpha, "--json",
                               "--db", store)
            decided[alpha] = json.loads(out)
        assert decided["0"]["model"] == "small" and decided["1"]["model"] == "large"
        assert set(decided["1"]["scores"]) == set(MODELS)
        code, out, _ = run(capsys, "routers", "list", "--db", store)
        assert "global" in out
        run(capsys, "routers", "export", "g", str(tmp_path / "g"), "--db", store)
        other = str(tmp_path / "other.db")
        code, _, err = run(capsys, "routers", "import", str(tmp_path / "g"), "--db", other,
                           "--create")
        assert code == 0, err
        code, out, _ = run(capsys, "routers", "show", "g", "--db", other)
        assert json.loads(out)["kind"] == "global"
        code, _, err = run(capsys, "fit", "--name", "g", "--refit", "--db", store)
        assert code == 2 and "fit it again from scratch" in err
    code, _, err = run(capsys, "route", "g", "write a poem", "--db", store)
    assert code == 2 and "unknown router kind 'global'" in err  # unregistered: a clear error


def test_a_kind_choosing_several_models_is_fitted_routed_and_persisted(store, capsys, tmp_path):
    with registered(TOP_TWO):
        code, out, err = fit(capsys, store, "two", "--kind", "top_two")
        assert code == 0 and "held-out: not evaluated (a router choosing several" in out, err
        code, out, _ = run(capsys, "route", "two", "write a poem", "--alpha", "0.5", "--json",
                           "--db", store)
        answer = json.loads(out)
        assert code == 0 and len(answer["models"]) == 2 and answer["model"] in answer["models"]
        assert list(answer["models"].values()) == pytest.approx([2 / 3, 1 / 3])
        code, out, _ = run(capsys, "route", "two", "write a poem", "--alpha", "0.5", "--db", store)
        assert out.splitlines()[0] == " + ".join(answer["models"]) + "  (alpha=0.5)"
        code, _, err = run(capsys, "sweep", "two", "--db", store)
        assert code == 2 and "chooses several models" in err and len(err.splitlines()) == 1
        run(capsys, "routers", "export", "two", str(tmp_path / "two"), "--db", store)
        other = str(tmp_path / "other.db")
        code, _, _ = run(capsys, "routers", "import", str(tmp_path / "two"), "--db", other,
                         "--create")
        assert code == 0


def test_a_kind_needing_responses_gets_the_stored_ones(store, capsys, tmp_path):
    with registered(BY_RESPONSE):
        code, out, err = fit(capsys, store, "resp", "--kind", "by_response")
        assert code == 0, err
        run(capsys, "routers", "export", "resp", str(tmp_path / "resp"), "--db", store)
        answered = np.load(tmp_path / "resp" / "arrays.npz")["answered_"]
        np.testing.assert_array_equal(answered, 0.0)  # imported records carry no answer text
        code, out, _ = run(capsys, "sweep", "resp", "--seeds", "2", "--alphas", "0,1", "--csv",
                           "--db", store)
        assert code == 0 and len(out.strip().splitlines()) == 3


async def test_the_new_kind_in_the_tui_router_inspector(store, capsys):
    from textual.widgets import Input, Static

    from avp_harness.tui.app import build_app
    from avp_harness.tui.router import RouterScreen, RouteScreen

    def static_text(app, selector):
        return str(app.screen.query_one(selector, Static).render())

    async def settle(app, pilot):
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()

    with registered(GLOBAL):
        code, _, err = fit(capsys, store, "g", "--kind", "global")
        assert code == 0, err
        app = build_app(store)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("3")
            await settle(app, pilot)
            assert isinstance(app.screen, RouterScreen)
            view = app.router_view
            assert view is not None and view.name == "g" and view.kind == "global"
            assert view.clusters == []  # a kind without clusters: an empty cluster table
            banner = static_text(app, "#router-banner")
            assert "g (global, 3 models" in banner and "α 0.50" in banner
            await pilot.press("right")
            point = view.at(0.51)
            assert f"accuracy {point.accuracy:.1%}" in static_text(app, "#router-banner")
            assert sum(point.usage.values()) == pytest.approx(1.0)
            await pilot.press("4")
            await settle(app, pilot)
            assert isinstance(app.screen, RouteScreen)
            await pilot.press("slash")  # the query box has the keys only once asked
            app.screen.query_one(Input).value = "write a poem"
            await pilot.press("enter")
            await settle(app, pilot)
            result = app.screen.result
            assert result is not None and result.chosen in MODELS
            assert np.isclose(result.alpha, 0.51)


def test_a_router_stored_in_the_old_format_still_loads(tmp_path, capsys):
    """Records as avp wrote them before the registry: kind names, params and array names."""
    import time

    from avp_harness.embed.tfidf import TfidfEmbedder
    from avp_harness.routing.persist import to_npz
    from avp_harness.store import Store
    from avp_harness.store.routing import StoredRouter, save_router

    texts = ["solve the equation for x", "write a poem about the sea", "sort a list in python",
             "simplify the polynomial", "a rhyming verse about the moon", "return the result"]
    tfidf = TfidfEmbedder().fit(texts)
    X = tfidf.embed(texts)
    A = np.array([[1, 0], [0, 1], [1, 1], [1, 0], [0, 1], [1, 1]], dtype=float)
    C = np.tile([0.1, 0.001], (6, 1))
    arrays = {"X_": X, "A_": A, "C_": C, "seen_": np.ones_like(A), **tfidf.state()}
    db = str(tmp_path / "old.db")
    with Store.open(db, create=True) as store:
        save_router(store, StoredRouter(
            name="old", kind="knn", arrays=to_npz(arrays), created_at=time.time(),
            params={"estimator": {"alpha": 0.5, "batch": 2048, "n_neighbors": 1},
                    "seed": 42, "train_ratio": 0.7},
            fitted_on={"models": ["big", "tiny"], "embedding": "tfidf", "benchmarks": ["x"]},
        ))
    code, out, err = run(capsys, "route", "old", "solve the equation for x", "--alpha", "1",
                         "--json", "--db", db)
    assert code == 0, err
    assert json.loads(out)["model"] == "big"  # its nearest neighbour: only big solved it
    code, out, _ = run(capsys, "route", "old", "write a poem about the sea", "--alpha", "0.5",
                       "--json", "--db", db)
    assert json.loads(out)["model"] == "tiny"


def test_importing_a_damaged_router_is_a_one_line_error(store, capsys, tmp_path):
    code, _, _ = fit(capsys, store, "main")
    run(capsys, "routers", "export", "main", str(tmp_path / "exp"), "--db", store)
    for damage in (b"PK\x03\x04garbage", b"garbage"):
        (tmp_path / "exp" / "arrays.npz").write_bytes(damage)
        code, _, err = run(capsys, "routers", "import", str(tmp_path / "exp"), "--db",
                           str(tmp_path / "other.db"))
        assert code == 2 and "not a readable .npz" in err and len(err.strip().splitlines()) == 1


def test_a_builtin_kind_is_its_module_plus_one_line_in_names(store, capsys, monkeypatch):
    """A built-in kind's registry line lives in avp_harness.names (read by `avp --help` without
    importing routing code); `routing.kinds` turns the line into the registered kind."""
    from avp_harness import names
    from avp_harness.routing.base import get_kind, kind_names
    from avp_harness.routing.kinds import kind_from_line

    line = {"estimator": "tests.example_router:GlobalRouter", "help": "one model (a line)"}
    monkeypatch.setitem(names.BUILTIN_KIND_LINES, "global_line", line)
    kind = kind_from_line("global_line", line)
    assert kind.estimator is GLOBAL.estimator and kind.chooses == "one" and not kind.needs
    with registered(kind):
        assert get_kind("global_line").help == "one model (a line)"
        code, out, err = fit(capsys, store, "gl", "--kind", "global_line")
        assert code == 0 and out.startswith("router 'gl' (global_line, 3 models"), err
    assert "global_line" not in kind_names()
    for name in names.BUILTIN_KIND_LINES:  # every real line names an importable estimator
        assert name == "global_line" or get_kind(name).estimator.__name__ in str(
            names.BUILTIN_KIND_LINES[name]["estimator"])
