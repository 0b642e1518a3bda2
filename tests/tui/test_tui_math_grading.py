"""`avp run --tui` grades MATH-500 and AIME (regression: under Textual every math cell failed with
"grader crashed: ValueError: bad value(s) in fds_to_keep", the run exited 0 and the calls were paid
for again by the next run).

The run happens in a fresh interpreter: the bug only shows when the first math process pool of the
process is started while Textual captures stderr, which an earlier test in this process may
already have done.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from avp_harness.app.benchmarks import data_present

SCRIPT = r"""
import json, sys
from avp_harness.cli.collect_cmds import demo_config
from avp_harness.sim.server import SimServer
from avp_harness.store import Store
from avp_harness.tui.app import build_app

db = sys.argv[1]

async def main():
    with SimServer(latency_scale=0.0) as sim:
        extra = [{"name": "math500", "limit": 3}, {"name": "aime", "limit": 3}]
        config = demo_config(sim.base_url, db, arc=0, humaneval=0, extra=extra)
        app = build_app(db, config=config, refresh_s=0.1,
                        collector_options={"backoff_initial_s": 0.01, "backoff_max_s": 0.05})
        async with app.run_test(size=(80, 24)) as pilot:
            await app.collector_worker.wait()
            await pilot.press("q")
    return app.return_value

import asyncio
summary = asyncio.run(main())
with Store.open(db) as store:
    cells = store.cells(limit=1000)
print(json.dumps({"status": summary.status, "ok": summary.ok, "planned": summary.planned,
                  "errors": [c.error for c in cells if c.error]}))
"""


def test_run_tui_grades_math_and_aime(tmp_path: Path) -> None:
    for name in ("math500", "aime"):
        if not data_present(name):  # CI has the data
            pytest.skip(f"no {name} data in ../shared/data")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "runs.db")],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    assert result["status"] == "completed"
    assert result["ok"] == result["planned"] > 0
