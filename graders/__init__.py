"""Graders: `async (item, completion) -> Grade`.

A grader only ever sees successful completions: infrastructure failures are statuses on the cell,
never wrong answers. Each grader has an `id` and a `version` that are stored with every grade, so
`avp regrade` can tell which verdicts a grader change touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from avp_harness.types import Completion, Grade, Item


class Grader(Protocol):
    id: str
    version: str

    async def __call__(self, item: Item, completion: Completion) -> Grade: ...


class Judge(Protocol):
    """An LLM judge: a pinned model called through the provider layer (see graders/judge.py).

    `ask` may answer from a cache (finish reason `graders.judge.CACHED`); `fresh=True` asks the
    model itself (the graders do so once when a cached reply holds no verdict).
    """

    model: str

    async def ask(self, prompt: str, *, fresh: bool = False) -> Completion: ...
