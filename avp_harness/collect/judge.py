"""The LLM judge as the collector calls it: the provider layer, its retries, and a cache.

`StoreJudge` satisfies `graders.Judge`. Its `ask(prompt)`:

1. reads the judge template's parts back from the prompt (`graders.judge_prompts`) and looks the
   call up in the store's `judgements` table by `graders.judge.judge_cache_key(judge model,
   prompt version, question, response)` (the question part includes the reference answer, so a
   corrected reference is judged again). A hit returns the stored reply at zero new cost, with
   finish reason `graders.judge.CACHED`; `ask(prompt, fresh=True)` skips the lookup (the graders
   ask so when a cached reply holds no verdict);
2. on a miss, calls the pinned judge model (temperature 0, from `config.judge`) through the
   model gateway (`avp_harness.gateway`): the same clients, per-provider limits and retries as
   the candidates. When `[judge]` sets no `max_tokens`, the judge gets
   `graders.judge.JUDGE_MAX_TOKENS` (4096, what the official HLE judge is given): HLE's judge
   writes its reasoning before the verdict, and a reply cut off there is no verdict;
3. stores every complete reply (finish reason other than "length") with its tokens and dollars,
   and returns it. A reply cut off at max_tokens is not stored: the graders turn it into a judge
   failure, and the next attempt asks again. Graders put the tokens and dollars on the cell's
   `judge_*` columns, apart from the candidate's.

The cache keeps the judge's raw reply, never a parsed verdict: when graders/judge.py changes how
replies are read, `avp regrade` reads the cached replies again without new judge calls.

When the call is given up it raises `ProviderError` with the provider's `RetryDecision`: the cell
is then recorded as an error (an infrastructure failure), never as a wrong answer. Concurrent
asks for the same key share one call. Store calls are small and run in a thread executor, each in
its own short transaction (safe next to the collector's single writer: SQLite WAL).
"""

from __future__ import annotations

import asyncio
import dataclasses
from functools import partial
from typing import TYPE_CHECKING

from avp_harness import spend
from avp_harness.errors import ProviderError
from avp_harness.store.grades import get_judgement, put_judgement
from avp_harness.types import Completion, CostSource, Judgement, Usage, canonical_json
from graders.judge import CACHED, JUDGE_MAX_TOKENS, judge_cache_key
from graders.judge_prompts import parse_judge_prompt

if TYPE_CHECKING:
    from avp_harness.config import ModelConfig
    from avp_harness.gateway import Gateway
    from avp_harness.store import Store

RAW_PROMPT_VERSION = "raw"  # a prompt that none of graders/judge.py's templates rendered


def judge_key(judge_model: str, prompt: str) -> tuple[str, str]:
    """(prompt version, cache key) of one judge prompt."""
    parsed = parse_judge_prompt(prompt)
    if parsed is None:
        return RAW_PROMPT_VERSION, judge_cache_key(judge_model, RAW_PROMPT_VERSION, prompt, "")
    question = canonical_json([parsed.question, parsed.reference])
    key = judge_cache_key(judge_model, parsed.version, question, parsed.response)
    return parsed.version, key


class StoreJudge:
    """A `graders.Judge` calling `model` through `gateway`, its replies cached in `store`.

    `calls` and `cache_hits` count what happened, for summaries.
    """

    def __init__(self, gateway: Gateway, store: Store, model: ModelConfig) -> None:
        self.gateway = gateway
        self.store = store
        if model.max_tokens is None:
            model = dataclasses.replace(model, max_tokens=JUDGE_MAX_TOKENS)
        self.config = model
        self.model = model.id
        self.calls = 0
        self.cache_hits = 0
        self.dollars = 0.0
        self._inflight: dict[str, asyncio.Task[Completion]] = {}

    async def ask(self, prompt: str, *, fresh: bool = False) -> Completion:
        version, key = judge_key(self.model, prompt)
        loop = asyncio.get_running_loop()
        cached = None
        if not fresh:
            cached = await loop.run_in_executor(None, get_judgement, self.store, key)
        if cached is not None:
            self.cache_hits += 1
            return Completion(
                text=cached.output,
                usage=Usage(),
                cost=0.0,
                cost_source=CostSource(cached.cost_source),
                latency_s=0.0,
                finish_reason=CACHED,
                raw={"judge_cache": key},
            )
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._call(prompt, version, key, replace=fresh))
            self._inflight[key] = task
            task.add_done_callback(lambda _done: self._inflight.pop(key, None))
        return await task

    async def _call(self, prompt: str, version: str, key: str, *, replace: bool) -> Completion:
        messages = [{"role": "user", "content": prompt}]
        call = await self.gateway.complete(self.config, messages)
        completion = call.completion
        if completion is None:
            assert call.decision is not None
            raise ProviderError(
                f"judge {self.model} gave up after {call.attempts} attempt(s): "
                f"{call.decision.message}",
                call.decision,
            )
        self.calls += 1
        self.dollars += completion.cost or 0.0
        spend.add(completion.cost)  # counted against the budget, whatever the verdict
        if completion.finish_reason != "length":  # a cut-off reply is a judge failure
            record = Judgement(
                key=key,
                judge_model=self.model,
                prompt_version=version,
                output=completion.text,
                prompt_tokens=completion.usage.prompt_tokens,
                completion_tokens=completion.usage.completion_tokens,
                cost=completion.cost,
                cost_source=completion.cost_source.value,
            )
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(
                None, partial(put_judgement, self.store, record, replace=replace))
        return completion
