"""Agreement of our MMLU-Pro extraction with the letters TIGER-Lab's own code recorded.

    .venv/bin/python perf/mmlu_pro_agreement.py FOLDER

FOLDER holds the official per-model outputs published in the TIGER-AI-Lab/MMLU-Pro repository
(`eval_results/model_outputs_<model>_5shots.zip`, or the JSON inside): per model, 12,032 records
with the generated text (`model_outputs` from the API script, `generated_text` from the local one)
and the letter the official code extracted from it (`pred`). They are not in ../shared/data, so
this is a figure script, not a test.

Printed per model and overall: the records with a recorded letter, and how many of them our
extraction (benchmarks/mmlu_pro.py EXTRACTION) reads as that same letter. Where we find no answer
the official code drew a random letter (some versions stored it as `pred`), so those records are
listed apart ("no answer"), as are records without a recorded letter.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.mmlu_pro import EXTRACTION  # noqa: E402


def outputs(folder: Path) -> Iterator[tuple[str, list[Any]]]:
    """(model, records) for each model_outputs_*.zip / .json in `folder`."""
    for path in sorted(folder.iterdir()):
        if not path.name.startswith("model_outputs_"):
            continue
        model = path.name.removeprefix("model_outputs_").split("_5shots")[0]
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith(".json")]
                if names:
                    yield model, json.loads(archive.read(names[0]))
        elif path.suffix == ".json":
            yield model, json.loads(path.read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="folder of the official model_outputs files")
    folder = parser.parse_args().folder
    totals = [0, 0, 0, 0]  # recorded letter, agree, we find none, no recorded letter
    print(f"{'model':<40} {'recorded':>8} {'agree':>8} {'rate':>7} {'no answer':>9} {'no pred':>8}")
    for model, records in outputs(folder):
        row = [0, 0, 0, 0]
        for record in records:
            if not isinstance(record, dict):
                continue
            text = record.get("model_outputs", record.get("generated_text")) or ""
            recorded = record.get("pred")
            if not recorded:
                row[3] += 1
                continue
            found = EXTRACTION.extract(text)
            row[0] += 1
            row[1] += found is not None and found[0] == recorded
            row[2] += found is None
        rate = row[1] / row[0] if row[0] else 0.0
        print(f"{model:<40} {row[0]:>8} {row[1]:>8} {rate:>7.2%} {row[2]:>9} {row[3]:>8}")
        totals = [a + b for a, b in zip(totals, row, strict=True)]
    if totals[0]:
        found = totals[0] - totals[2]
        print(
            f"{'all':<40} {totals[0]:>8} {totals[1]:>8} {totals[1] / totals[0]:>7.2%} "
            f"{totals[2]:>9} {totals[3]:>8}\n"
            f"agreement where we find an answer: {totals[1]} of {found} = {totals[1] / found:.4%}"
        )


if __name__ == "__main__":
    main()
