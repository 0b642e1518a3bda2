"""What a collector run did, as the reporter and the CLI show it (`Collector.run()` returns one)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunSummary:
    run_id: int | None
    status: str  # completed | interrupted | budget | failed
    planned: int
    already_done: int
    attempted: int = 0
    ok: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    spent: float = 0.0
    projected_to_finish: float = 0.0
    remaining: int = 0  # planned cells not ok when the run ended (whoever ran them)
    elapsed_s: float = 0.0
    rate_limit_hits: int = 0
    unpriced_models: list[str] = field(default_factory=list)
    truncated: int = 0  # ok cells whose answer hit max_tokens (graded, marked by finish reason)
    context_exceeded: int = 0  # prompts longer than the context window: final, not re-sent
    timed_out: int = 0  # calls given up client-side: generations a server may have wasted
    dead_providers: list[str] = field(default_factory=list)  # "name (base URL)": stopped, down
    judge_failures: int = 0  # cells left ungraded: the judge's reply held no single verdict

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["by_status"] = dict(self.by_status)
        return data
