"""LiveCodeBench code generation (the "lite" releases).

Paper: Naman Jain et al., "LiveCodeBench: Holistic and Contamination Free Evaluation of Large
Language Models for Code" (2024), https://arxiv.org/abs/2403.07974.

Data: the official Hugging Face `livecodebench/code_generation_lite` JSONL releases, `test.jsonl`
(v1) ... `test6.jsonl` (v6). `Selection.source` is a folder holding them or one such file. Each line
has question_title, question_content, platform, question_id, contest_id, contest_date, starter_code,
difficulty, public_test_cases (JSON string: a list of {input, output, testtype: stdin|functional}),
private_test_cases (the same JSON, or base64 of zlib of a pickle of that JSON string) and metadata
(JSON string; func_name for functional problems). With no source, the Hugging Face `datasets`
loader is used when `datasets` is importable (it is not a dependency); otherwise a clear DataError.

Options, as the official loader has them (constructor arguments of `LiveCodeBench`, set in
avp.toml with `options = { release = "release_v5", start_date = "2024-08-01" }` on the
`[[benchmarks]]` entry; the older spelling, a query string on the source path such as
`data/lcb?release=release_v5&start_date=2024-08-01`, still works and is deprecated):
- `release`: `release_vN` = test.jsonl .. testN.jsonl (cumulative, the official meaning),
  `vN` = only testN's file, `vI_vJ` = files I..J, `release_latest` = all (default);
- `start_date` / `end_date` (YYYY-MM-DD, inclusive) on contest_date, to avoid contamination.

Item: id = question_id; target = {"tests": public + private tests, "func_name": str | None};
graded by graders/code.py (all tests in one sandbox process, pass@1 = all pass).
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from avp_harness.errors import DataError
from avp_harness.types import Item, Message
from benchmarks import BenchmarkBase, OptionError, Selection, select
from graders.code import LiveCodeBenchGrader

VERSION = "1"

# The Avengers-Pro paper does not pin a LiveCodeBench window we can reproduce offline: all items.
PAPER_SELECTION = Selection()

FILES = ["test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl", "test6.jsonl"]
FIELDS = (
    "question_title", "question_content", "platform", "question_id", "contest_id",
    "contest_date", "starter_code", "difficulty", "public_test_cases", "private_test_cases",
    "metadata",
)  # fmt: skip

SYSTEM_PROMPT = (
    "You are a skilled Python programmer. Given a problem statement, you write a correct Python "
    "program that meets the specification and passes every test."
)
QUESTION_TEMPLATE = (
    "### Question:\n{question}\n\n{format}\n\n### Answer: (one ```python code block)\n"
)
STARTER_FORMAT = (
    "### Format: Complete the starter code below and put your whole solution in one fenced "
    "```python code block.\n```python\n{starter}\n```"
)
STDIN_FORMAT = (
    "### Format: Read the input from standard input, solve the problem and write the answer to "
    "standard output (do not hard-code the sample inputs). Put the whole program in one fenced "
    "```python code block.\n```python\n# your code here\n```"
)


# --- release and date options -------------------------------------------------------------------


def release_files(release: str) -> list[str]:
    """Which test*.jsonl files a release tag means (as in the official loader)."""
    tag = release.strip()
    if tag == "release_latest":
        return list(FILES)
    try:
        if tag.startswith("release_v"):
            return FILES[: _version(tag.removeprefix("release_"))]
        if "_" in tag:
            first, last = tag.split("_", 1)
            return FILES[_version(first) - 1 : _version(last)]
        return [FILES[_version(tag) - 1]]
    except (ValueError, IndexError):
        raise DataError(
            f"livecodebench: unknown release {release!r}; use release_v1..release_v{len(FILES)}, "
            f"release_latest, vN or vI_vJ"
        ) from None


def _version(tag: str) -> int:
    if not tag.startswith("v") or not tag[1:].isdigit() or not 1 <= int(tag[1:]) <= len(FILES):
        raise ValueError(tag)
    return int(tag[1:])


def _parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise DataError(f"livecodebench: {option}={value!r} is not a YYYY-MM-DD date") from None


# --- decoding -----------------------------------------------------------------------------------


class _StrOnlyUnpickler(pickle.Unpickler):
    """Refuses every global: the official private tests pickle holds nothing but a str."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def decode_tests(field: str, where: str) -> list[dict[str, Any]]:
    """Test cases from a JSON string, or from base64(zlib(pickle(JSON string)))."""
    try:
        tests = json.loads(field)
    except ValueError:
        try:
            raw = zlib.decompress(base64.b64decode(field, validate=False))
            text = _StrOnlyUnpickler(io.BytesIO(raw)).load()
        except (ValueError, zlib.error, pickle.UnpicklingError, EOFError) as exc:
            raise DataError(
                f"{where}: private_test_cases is neither JSON nor the compressed form: {exc}"
            ) from exc
        if not isinstance(text, str):
            raise DataError(
                f"{where}: compressed private_test_cases holds {type(text).__name__}, not str"
            ) from None
        try:
            tests = json.loads(text)
        except ValueError as exc:
            raise DataError(f"{where}: decoded private_test_cases is not JSON: {exc}") from exc
    ok = isinstance(tests, list) and all(
        isinstance(t, dict) and {"input", "output", "testtype"} <= t.keys() for t in tests
    )
    if not ok:
        raise DataError(f"{where}: test cases must be a list of {{input, output, testtype}}")
    return [{"input": t["input"], "output": t["output"], "testtype": t["testtype"]} for t in tests]


def _contest_date(value: Any, where: str) -> date:
    try:
        return datetime.fromisoformat(str(value)).date()
    except ValueError:
        raise DataError(f"{where}: contest_date {value!r} is not an ISO date") from None


# --- loading ------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    try:
        with path.open(encoding="utf-8") as handle:
            for n, line in enumerate(handle, 1):
                if line.strip():
                    record = json.loads(line)
                    missing = [f for f in FIELDS if f not in record]
                    if missing:
                        raise DataError(f"{path}:{n}: missing LiveCodeBench fields {missing}")
                    records.append(record)
    except ValueError as exc:
        raise DataError(f"{path}: not JSONL: {exc}") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc
    return records


def _load_hf(release: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise DataError(
            "livecodebench: no data source; point the benchmark's source at a folder holding the "
            "official test*.jsonl files (the Hugging Face `datasets` package is not installed)"
        ) from None
    dataset = datasets.load_dataset(
        "livecodebench/code_generation_lite",
        split="test",
        version_tag=release,
        trust_remote_code=True,
    )
    return [dict(row) for row in dataset]


def build_item(record: dict[str, Any], where: str) -> Item:
    tests = decode_tests(record["public_test_cases"], where) + decode_tests(
        record["private_test_cases"], where
    )
    meta = json.loads(record["metadata"] or "{}")
    func_name = meta.get("func_name")
    starter = (record["starter_code"] or "").strip()
    if not starter and func_name:
        raise DataError(
            f"{where}: functional problem {record['question_id']!r} has no starter code"
        )
    fmt = STARTER_FORMAT.format(starter=starter) if starter else STDIN_FORMAT
    question = QUESTION_TEMPLATE.format(question=record["question_content"].strip(), format=fmt)
    return Item(
        id=str(record["question_id"]),
        dataset="livecodebench",
        messages=(Message("system", SYSTEM_PROMPT), Message("user", question)),
        target={"tests": tests, "func_name": func_name},
        metadata={
            "title": record["question_title"],
            "platform": record["platform"],
            "contest_id": record["contest_id"],
            "contest_date": str(record["contest_date"]),
            "difficulty": record["difficulty"],
            "n_tests": len(tests),
            "topic": f"{record['platform']}-{record['difficulty']}",
        },
    )


OPTIONS = ("release", "start_date", "end_date")


@dataclass(frozen=True)
class LiveCodeBench(BenchmarkBase):
    """LiveCodeBench code generation with the official release / date filters."""

    name: str = "livecodebench"
    version: str = VERSION
    description: str = "LiveCodeBench code generation: stdin and functional tests, pass@1"
    default_source: str = "hf:livecodebench/code_generation_lite"
    release: str = "release_latest"
    start_date: str | None = None
    end_date: str | None = None
    notes: list[str] = field(default_factory=list, init=False, compare=False, repr=False)

    def with_options(self, options: Mapping[str, Any]) -> LiveCodeBench:
        """A copy with `release`, `start_date`, `end_date` applied (OptionError naming the
        option for an unknown one or a bad value; TOML dates are accepted)."""
        values: dict[str, str] = {}
        for option, value in options.items():
            if option not in OPTIONS:
                raise OptionError(self.name, option, f"unknown option; expected one of: "
                                  f"{', '.join(OPTIONS)}")
            if isinstance(value, date) and option != "release":
                value = value.isoformat()
            if not isinstance(value, str):
                raise OptionError(self.name, option, f"must be a string, got {value!r}")
            try:
                if option == "release":
                    release_files(value)
                else:
                    _parse_date(value, option)
            except DataError as exc:
                raise OptionError(self.name, option, str(exc).split(": ", 1)[-1]) from None
            values[option] = value
        return replace(self, **values)  # type: ignore[arg-type]

    def load_notes(self) -> list[str]:
        return list(self.notes)

    def records(self, source: Path | None) -> list[tuple[str, dict[str, Any]]]:
        """(where, record) in official order, release-filtered, before date filtering."""
        if source is None:
            return [("hf", r) for r in _load_hf(self.release)]
        if source.is_file():
            return [(f"{source}:{n}", r) for n, r in enumerate(read_jsonl(source), 1)]
        if not source.is_dir():
            raise DataError(f"{source}: no such LiveCodeBench file or folder")
        wanted = [source / name for name in release_files(self.release)]
        present = [p for p in wanted if p.exists()]
        if not present:
            raise DataError(
                f"{source}: none of {[p.name for p in wanted]} ({self.release}) is here"
            )
        return [(f"{p}:{n}", r) for p in present for n, r in enumerate(read_jsonl(p), 1)]

    def items(self, selection: Selection) -> Iterator[Item]:
        bench, source = self, selection.source
        self.notes.clear()
        if source is not None and "?" in str(source):  # the deprecated spelling of the options
            path, query = str(source).split("?", 1)
            bench = self.with_options(dict(parse_qsl(query, keep_blank_values=True)))
            source = Path(path)
            self.notes.append(
                f"livecodebench: options in the source path ({query}) are deprecated; write "
                "them as `options = {...}` on the benchmark's entry in avp.toml"
            )
        start = _parse_date(bench.start_date, "start_date") if bench.start_date else None
        end = _parse_date(bench.end_date, "end_date") if bench.end_date else None
        release_files(bench.release)  # validate the tag even for single-file sources
        kept = []
        for where, record in bench.records(source):
            day = _contest_date(record["contest_date"], where)
            if (start is None or day >= start) and (end is None or day <= end):
                kept.append((where, record))
        for where, record in select(kept, selection):
            yield build_item(record, where)

    def grader(self, judge: object | None = None) -> LiveCodeBenchGrader:
        return LiveCodeBenchGrader()


BENCHMARK = LiveCodeBench()
