"""The model x benchmark summary (`avp status`): its rows, its SQL and how the SQL's rows are
folded into it, without SQLAlchemy.

The SQL is plain text shared by both ways of reading it: `Store.matrix()` runs it through
SQLAlchemy (SQLite or PostgreSQL), and `status_read.read_matrix()` with the standard library's
sqlite3 on a current SQLite store, so `avp status` starts without importing SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from avp_harness.errors import StoreError


@dataclass(frozen=True)
class PlanEntry:
    """What a run intends to evaluate for one (model, benchmark) configuration."""

    model: str
    benchmark: str
    config_hash: str
    benchmark_version: str
    planned: int


@dataclass
class MatrixRow:
    """One (model, benchmark) cell of the summary matrix."""

    model: str
    benchmark: str
    planned: int | None
    done: int  # finished, never requested again: status ok, or context_exceeded (not graded)
    graded: int  # ok cells with a score
    accuracy: float | None  # mean score of graded ok cells
    unparsed: int  # ok cells whose answer could not be extracted (scored 0)
    errors: int  # cells whose last attempt failed (retried by the next run)
    rate_limited: int  # 429 answers met (each was retried)
    dollars: float  # known dollars of every attempt recorded
    unknown_cost: int  # ok cells with no known cost
    prompt_tokens: int
    completion_tokens: int
    mean_latency_s: float | None  # request latency: client wall time, server queueing included
    by_status: dict[str, int] = field(default_factory=dict)
    truncated: int = 0  # ok cells whose answer hit max_tokens (finish_reason "length"), graded
    context_exceeded: int = 0  # prompts longer than the context window: done, left out of accuracy
    mean_server_time_s: float | None = None  # the server's own timing, where responses had it

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# For each (model, benchmark), the plans of the most recent run that included it.
LATEST_PLANS_SQL = """
SELECT p.model, p.benchmark, p.config_hash, p.benchmark_version, p.planned, p.run_id
FROM plans AS p JOIN (SELECT model, benchmark, MAX(run_id) AS rid FROM plans
                      GROUP BY model, benchmark) AS l
  ON p.model = l.model AND p.benchmark = l.benchmark AND p.run_id = l.rid
"""

# Per (model, benchmark, configuration, status): the sums the matrix is folded from.
MATRIX_SQL = """
SELECT model, benchmark, config_hash, status, COUNT(*),
  SUM(CASE WHEN status = 'ok' AND score IS NOT NULL THEN 1 ELSE 0 END),
  SUM(CASE WHEN status = 'ok' THEN score END),
  SUM(CASE WHEN status = 'ok' AND parsed = false THEN 1 ELSE 0 END),
  SUM(cost),
  SUM(CASE WHEN status = 'ok' AND cost IS NULL THEN 1 ELSE 0 END),
  SUM(prompt_tokens), SUM(completion_tokens), SUM(latency_s), COUNT(latency_s), SUM(rate_limits),
  SUM(CASE WHEN status = 'ok' AND finish_reason = 'length' THEN 1 ELSE 0 END),
  SUM(server_time_s), COUNT(server_time_s)
FROM cells GROUP BY model, benchmark, config_hash, status
"""


def latest_plan_entries(rows: Iterable[Sequence[Any]]) -> list[PlanEntry]:
    """LATEST_PLANS_SQL's rows as plan entries; a configuration planned under several ids (a
    renamed model) keeps only its latest id."""
    latest: dict[str, PlanEntry] = {}
    for model, bench, chash, version, planned, _run in sorted(rows, key=lambda r: r[5]):
        latest[chash] = PlanEntry(model, bench, chash, version, int(planned))
    return list(latest.values())


def fold_matrix(rows: Iterable[Sequence[Any]], plans: Sequence[PlanEntry]) -> list[MatrixRow]:
    """MATRIX_SQL's rows as the matrix.

    With `plans`, each (model, benchmark) counts only the cells of its configuration (under any
    label), against its planned total; pairs that were only imported (no plan) count all their
    cells when there is no plan at all.
    """
    planned = {(p.model, p.benchmark): p for p in plans}
    # A model is its configuration (provider route, model name, generation parameters), the
    # config hash: its id is a label. Cells count for the configuration whatever label they
    # were stored under, so a renamed model shows its finished cells under its new id.
    by_hash = {p.config_hash: p for p in plans}
    out: dict[tuple[str, str], MatrixRow] = {}
    latency: dict[tuple[str, str], tuple[float, int]] = {}
    server: dict[tuple[str, str], tuple[float, int]] = {}
    for (model, bench, chash, status, n, graded, score_sum, unparsed, dollars,
         unknown, ptok, ctok, lat_sum, lat_n, rl, cut, srv_sum, srv_n) in rows:
        plan = by_hash.get(chash)
        if plans and plan is None:
            continue  # an older configuration, or a pair not planned
        if plan is not None:  # the configuration's label now (a renamed model's new id)
            model = plan.model
        row = out.get((model, bench))
        if row is None:
            row = out[(model, bench)] = MatrixRow(
                model, bench, plan.planned if plan else None, 0, 0, None, 0, 0, 0,
                0.0, 0, 0, 0, None,
            )
        row.by_status[status] = row.by_status.get(status, 0) + n
        if status == "ok":
            row.done += n
            row.graded += int(graded or 0)
            if graded:
                total = (row.accuracy or 0.0) * (row.graded - graded) + float(score_sum)
                row.accuracy = total / row.graded
            row.unparsed += int(unparsed or 0)
            row.truncated += int(cut or 0)
            row.unknown_cost += int(unknown or 0)
        elif status == "context_exceeded":
            row.done += n
            row.context_exceeded += n
        elif status != "answered":  # answered: paid for, grade pending
            row.errors += n
        row.rate_limited += int(rl or 0)
        row.dollars += float(dollars or 0.0)
        row.prompt_tokens += int(ptok or 0)
        row.completion_tokens += int(ctok or 0)
        s, k = latency.get((model, bench), (0.0, 0))
        latency[(model, bench)] = (s + float(lat_sum or 0.0), k + int(lat_n or 0))
        s, k = server.get((model, bench), (0.0, 0))
        server[(model, bench)] = (s + float(srv_sum or 0.0), k + int(srv_n or 0))
    for key, plan in planned.items():
        if key not in out:
            out[key] = MatrixRow(key[0], key[1], plan.planned, 0, 0, None, 0, 0, 0, 0.0, 0,
                                 0, 0, None)
    for key, (s, k) in latency.items():
        if k:
            out[key].mean_latency_s = s / k
    for key, (s, k) in server.items():
        if k:
            out[key].mean_server_time_s = s / k
    return sorted(out.values(), key=lambda r: (r.benchmark, r.model))


def corrupt_store(found: list[str], shown: str) -> StoreError:
    """The one-line refusal of a store whose `PRAGMA quick_check` found problems."""
    problems = [line.strip() for row in found for line in row.splitlines()
                if line.strip() and not line.startswith("*** in database")]
    more = f" and {len(problems) - 1} more problems" if len(problems) > 1 else ""
    return StoreError(
        f"store {shown} is corrupt (PRAGMA quick_check: {problems[0]}{more}): "
        f"restore a backup, or save what is readable with `sqlite3 FILE .recover`"
    )
