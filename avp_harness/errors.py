"""The one error tree of avp-harness.

    AvpError                      anything the CLI reports as one line on stderr (exit code 2)
    ├── ConfigError               avp.toml / environment: names the file, the key and the reason
    ├── StoreError                runs.db cannot be opened or used
    │   ├── SchemaVersionError    the store was written by a newer avp-harness
    │   └── StoreWriteError       a commit failed mid-run (disk full, read-only, connection lost):
    │                             the collector stops at once (exit code 4)
    ├── DataError                 benchmark data missing or not in the official format
    ├── ProviderError             a model call failed; carries the provider's RetryDecision
    │   └── JudgeFailure          the judge answered without exactly one verdict, or was cut off
    ├── SandboxError              the code sandbox itself failed (never a wrong answer)
    └── RouterError               a router cannot be fitted, found or used

Context (file, key, model, URL) is attached where the error is raised, at the boundary, so the CLI
prints `str(exc)` and nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from avp_harness.types import RetryDecision


class AvpError(Exception):
    """Base class: a failure the user can act on, reported as one line."""

    exit_code = 2


class ConfigError(AvpError):
    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file, self.key, self.reason = file, key, reason
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {reason}")


class StoreError(AvpError):
    pass


class SchemaVersionError(StoreError):
    pass


class StoreWriteError(StoreError):
    """A write to the store failed: nothing more may be paid for (exit code 4)."""

    exit_code = 4


class DataError(AvpError):
    pass


class ProviderError(AvpError):
    def __init__(self, message: str, decision: RetryDecision | None = None) -> None:
        self.decision = decision
        super().__init__(message)


class JudgeFailure(ProviderError):
    """The judge's reply cannot grade the answer: it holds no verdict of its own (e.g. it repeats
    the prompt), several verdicts, or it was cut off at max_tokens. Never a grade of the
    candidate: the cell keeps its answer as `answered` with this message, graded again later."""

    PREFIX = "judge failure: "

    def __init__(self, judge_model: str, reason: str) -> None:
        self.judge_model, self.reason = judge_model, reason
        super().__init__(f"{self.PREFIX}{judge_model}: {reason}")


class SandboxError(AvpError):
    pass


class RouterError(AvpError):
    pass
