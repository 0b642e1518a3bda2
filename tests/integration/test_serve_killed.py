"""`avp serve` killed (SIGKILL) in the middle of a stream: the client's read ends with an error at
once (no hang on a half-open connection), and a restarted server on the same store serves again."""

from __future__ import annotations

import os
import signal

import httpx2 as httpx
import openai
import pytest

from avp_harness.cli import main
from avp_harness.sim.server import ServerModes, SimServer
from tests.integration.test_router_cli import records
from tests.integration.test_serve import QUERIES, SIM_IDS, Serve, write_config

pytestmark = pytest.mark.integration


def test_killing_avp_serve_mid_stream_ends_the_clients_read_with_an_error(tmp_path) -> None:
    db = str(tmp_path / "runs.db")
    (tmp_path / "records.jsonl").write_text(records())
    assert main(["import", "avengers-pro", str(tmp_path / "records.jsonl"), "--db", db]) == 0
    assert main(["fit", "--name", "main", "--embedding", "tfidf", "--clusters", "6",
                 "--db", db]) == 0
    with SimServer(latency_scale=0, index_only=[], modes=ServerModes(generation_s=600)) as slow:
        config = write_config(tmp_path / "avp.toml", slow.base_url, db)
        server = Serve("main", "--config", str(config))
        try:
            with openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0,
                               timeout=60) as c:
                stream = c.chat.completions.create(
                    model="avp/main", stream=True,
                    messages=[{"role": "user", "content": QUERIES[0]}])
                chunks = iter(stream)
                assert next(chunks).model in SIM_IDS  # the answer is on its way
                server.proc.send_signal(signal.SIGKILL)
                server.proc.wait(timeout=60)
                # The upstream would go on for 600 s: the read must end because the server died.
                with pytest.raises((openai.APIError, httpx.HTTPError)) as ended:
                    for _ in chunks:
                        pass
                # ... and not by the client's own timeout (a half-open connection left behind).
                assert not isinstance(ended.value, (openai.APITimeoutError, httpx.TimeoutException))
        finally:
            server.stop()
        assert "Traceback" not in server.stderr()
        again = Serve("main", "--config", str(write_config(tmp_path / "fast.toml",
                                                           slow.base_url, db)))
        try:
            with openai.OpenAI(base_url=again.base_url, api_key="none", max_retries=0,
                               timeout=60) as c:
                models = c.models.list()
                assert "avp/main" in [m.id for m in models]
        finally:
            assert again.stop() == 0
    assert os.path.exists(db)
