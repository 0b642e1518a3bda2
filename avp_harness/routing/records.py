"""Published per-query routing records: RouterBench CSVs and Avengers-Pro JSONL.

Both carry, per query: the query text, each model's score and dollar cost, the dataset and an
index. They are read into `RoutingData` (missing cells as NaN: an empty RouterBench correctness
cell is missing, not wrong), which the CLI then writes into the store as an imported run.

RouterBench (`*_train.csv` / `*_test.csv`, one pair per dataset): columns `<model>` (0/1 score),
`<model>|total_cost` (dollars), `<model>|model_response` (kept in `meta["responses"]`),
`eval_name` (dataset), `sample_id`, `prompt` (a Python list literal of strings) and an unnamed
integer index. The files' own train/test division is ignored: the union is split the
Avengers-Pro way (`split_indices`).

Avengers-Pro JSONL: `{"query", "records": {model: score}, "usages": {model: {"cost"}},
"dataset", "index"}` per line.
"""

from __future__ import annotations

import ast
import csv
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from avp_harness.errors import DataError
from avp_harness.routing.data import RoutingData

ROUTERBENCH_META = {"", "sample_id", "prompt", "eval_name", "oracle_model_to_route_to"}


def routerbench_prompt(raw: str) -> str:
    """The prompt text: RouterBench stores a Python list literal of message strings."""
    try:
        parts = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw
    if isinstance(parts, (list, tuple)):
        return "\n\n".join(str(p) for p in parts)
    return str(parts)


def _number(value: str | None) -> float:
    if value is None or value.strip() == "":
        return math.nan
    try:
        return float(value)
    except ValueError:
        return math.nan


def read_routerbench(folder: Path) -> RoutingData:
    """All `*.csv` files of a RouterBench export folder, as one table (rows in file order)."""
    files = sorted(Path(folder).glob("*.csv"))
    if not files:
        raise DataError(f"{folder}: no RouterBench *.csv files found")
    csv.field_size_limit(sys.maxsize)
    models: list[str] | None = None
    rows: list[dict[str, str]] = []
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            found = [f for f in fields if "|" not in f and f not in ROUTERBENCH_META]
            missing = {"prompt", "eval_name", "sample_id"} - set(fields)
            if missing or not found:
                raise DataError(f"{path}: not a RouterBench CSV (missing {sorted(missing)})")
            if models is None:
                models = found
            elif set(found) != set(models):
                raise DataError(f"{path}: models differ from {files[0].name}")
            rows.extend(reader)
    assert models is not None
    seen: set[str] = set()
    unique = []
    for row in rows:  # a query listed in two files is kept once
        if row["sample_id"] not in seen:
            seen.add(row["sample_id"])
            unique.append(row)
    A = np.array([[_number(r[m]) for m in models] for r in unique])
    C = np.array([[_number(r.get(f"{m}|total_cost")) for m in models] for r in unique])
    index = np.array([int(r[""]) if r.get("", "").strip() else i for i, r in enumerate(unique)])
    responses = np.array(
        [[routerbench_response(r.get(f"{m}|model_response")) for m in models] for r in unique],
        dtype=object,
    ).reshape(len(unique), len(models))
    return RoutingData(
        models=tuple(models),
        A=A,
        C=C,
        datasets=np.array([r["eval_name"] for r in unique], dtype=object),
        index=index.astype(np.int64),
        item_ids=tuple(r["sample_id"] for r in unique),
        texts=tuple(routerbench_prompt(r["prompt"]) for r in unique),
        meta={"responses": responses},
    )


def routerbench_response(raw: str | None) -> str | None:
    """A model's response text (RouterBench stores a Python list literal of strings); None when
    the cell is empty."""
    if raw is None or raw.strip() == "":
        return None
    return routerbench_prompt(raw)


def read_avengers_jsonl(path: Path) -> RoutingData:
    """An Avengers-Pro JSONL file (models are the union over records; absent = missing)."""
    records = []
    try:
        with Path(path).open(encoding="utf-8") as handle:
            for n, line in enumerate(handle, 1):
                if line.strip():
                    rec = json.loads(line)
                    if not {"query", "records", "dataset"} <= set(rec):
                        raise DataError(f"{path}:{n}: needs query, records, usages, dataset, index")
                    records.append(rec)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {exc.lineno}: not JSON ({exc.msg})") from None
    except OSError as exc:
        raise DataError(f"{path}: {exc.strerror}") from None
    if not records:
        raise DataError(f"{path}: no records")
    models = sorted({m for r in records for m in r["records"]})
    A = np.array([[_float(r["records"].get(m)) for m in models] for r in records])
    C = np.array(
        [[_float((r.get("usages", {}).get(m) or {}).get("cost")) for m in models] for r in records]
    )
    datasets = [str(r["dataset"]) for r in records]
    index = np.array([int(r.get("index", i)) for i, r in enumerate(records)], dtype=np.int64)
    return RoutingData(
        models=tuple(models),
        A=A,
        C=C,
        datasets=np.array(datasets, dtype=object),
        index=index,
        item_ids=tuple(f"{d}/{i}" for d, i in zip(datasets, index, strict=True)),
        texts=tuple(str(r["query"]) for r in records),
    )


def _float(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


def avengers_lines(data: RoutingData) -> Iterable[str]:
    """The table as Avengers-Pro JSONL lines (missing cells are left out of the record)."""
    for i in range(data.n):
        observed = [j for j in range(len(data.models)) if not np.isnan(data.A[i, j])]
        yield json.dumps(
            {
                "query": data.texts[i] if data.texts else "",
                "records": {data.models[j]: float(data.A[i, j]) for j in observed},
                "usages": {
                    data.models[j]: {
                        "cost": None if np.isnan(data.C[i, j]) else float(data.C[i, j])
                    }
                    for j in observed
                },
                "dataset": str(data.datasets[i]),
                "index": int(data.index[i]),
            },
            ensure_ascii=False,
        )
