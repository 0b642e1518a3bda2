"""Cost of validating avp.toml with pydantic: the first load (which builds the validator) and
every later one, on the `avp init` template, and their ratio.

    .venv/bin/python perf/config_load.py
"""

from __future__ import annotations

import time
import tomllib

from avp_harness.config import config_from_dict, template


def main() -> None:
    data = tomllib.loads(template())
    start = time.perf_counter()
    config_from_dict(data, None, env={})
    first = time.perf_counter() - start
    runs = 500
    start = time.perf_counter()
    for _ in range(runs):
        config_from_dict(data, None, env={})
    later = (time.perf_counter() - start) / runs
    print(f"first load {first * 1e3:.1f} ms (builds the validator), then {later * 1e3:.3f} ms "
          f"per load: ratio {first / later:.0f}x")


if __name__ == "__main__":
    main()
