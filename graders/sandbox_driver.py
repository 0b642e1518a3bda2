"""The trusted driver of a code grade: runs INSIDE the sandbox as its main program (standard library
only; graders/code.py ships this file's text in). The verdict it reports is the only evidence a
code grade rests on, never the exit code.

Threat model. The model's code is hostile and runs with the driver's uid in the same sandbox: it may
exit early (`sys.exit(0)`, `os._exit(0)`, `raise SystemExit`, `unittest.main()`), fork and let the
parent exit, replace `print`/`sys.stdout`, print anything (a fake verdict, a guessed token), start
threads or daemons, or call the harness's own functions. Defences:

1. **The model code never runs in the driver's process.** The driver forks a child that closes the
   token and report pipes first, then runs the model code. The driver never executes model code
   (it only exchanges data with the child over pipes, decoded by `json` into plain values).
2. **The assertions run in the driver, not next to the model code.** HumanEval's
   `check(candidate)` and LiveCodeBench's comparisons run in the driver; `candidate` is a proxy that
   sends the arguments to the child, which calls the model's function and sends back its return
   value (plain data: numbers, strings, lists, tuples, dicts, sets; anything else is an opaque value
   that equals nothing). So the child can only influence return values, exactly what a solution is
   for: it cannot skip an assertion, return an object whose `__eq__` always says yes, or exit
   "successfully". A child that exits, crashes or hangs during a call is a failed test. stdin
   programs run in a child per test with their stdout in a memfd; the driver compares the output.
3. **The token only exists where the model cannot reach it.** The harness writes a per-run random
   token into a pipe and closes it before the sandbox starts. The driver reads it only after the
   last test has passed, and writes token + verdict on a second pipe; both pipe ends are closed in
   every child before model code runs, and the driver is made non-dumpable (PR_SET_DUMPABLE=0)
   before forking, so the child (same uid, no capabilities inside bwrap) can neither reopen them
   through /proc/<driver>/fd nor read the driver's memory. A report without the token is ignored
   (and flagged). An early exit of the driver itself (killed by the child, out of memory) leaves no
   report: a failure, never a pass.

Left open, deliberately: a solution that games the values its function returns (it can always just
return them) and, in the rlimits-only fallback run as root, a child that regains root's power over
the driver; graders say which isolation held each grade.
"""

# Imports are kept few (each run pays for them): signal, traceback and decimal load on demand, and
# try/except replaces contextlib.suppress.
# ruff: noqa: SIM105
import ctypes
import os
import sys
import time

SIGKILL = 9


def _not_json(value):
    raise TypeError(f"{type(value).__name__} is not JSON")


# JSON through the C accelerator directly: `import json` pulls in re and enum (~6 ms a run, more
# than most HumanEval programs import); the same scanner and encoder json uses, same results.
try:
    import _json

    class _Context:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = float  # NaN, Infinity, -Infinity, as json.loads

    _scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # duck-typed, as json does
    _encoder = _json.make_encoder(
        None, _not_json, _json.encode_basestring_ascii, None, ":", ",", False, False, True
    )

    def dumps(value):
        return "".join(_encoder(value, 0))

    def loads(text):
        start = len(text) - len(text.lstrip(" \t\n\r"))
        try:
            value, end = _scan(text, start)
        except StopIteration:
            raise ValueError("not JSON") from None
        if text[end:].strip(" \t\n\r"):
            raise ValueError("extra data after JSON")
        return value

except (ImportError, AttributeError, TypeError):  # another interpreter: the json module
    from json import dumps, loads  # type: ignore[assignment]

MAX_LINE = 64 * 1024 * 1024  # largest message from the child
EXCERPT = 200


def _short(text):
    text = str(text)
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "..."


def encode(value, depth=0):
    """Plain data as JSON-compatible values; tuples, sets, dicts and bytes are tagged."""
    if depth > 100:
        raise ValueError("nested too deep")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return {"f": repr(float(value))}
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"t": [encode(v, depth + 1) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"s": [encode(v, depth + 1) for v in value], "frozen": isinstance(value, frozenset)}
    if isinstance(value, dict):
        return {"d": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if isinstance(value, (bytes, bytearray)):
        return {"b": bytes(value).hex()}
    if isinstance(value, complex):
        return {"c": [repr(value.real), repr(value.imag)]}
    return {"x": type(value).__name__}


class Opaque:
    """A value that could not cross the pipe: equal to nothing."""

    def __init__(self, type_name):
        self.type_name = type_name

    def __eq__(self, other):
        return False

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<unserializable {self.type_name}>"


def decode(value):
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "f" in value:
        return float(value["f"])
    if "t" in value:
        return tuple(decode(v) for v in value["t"])
    if "s" in value:
        items = [decode(v) for v in value["s"]]
        return frozenset(items) if value.get("frozen") else set(items)
    if "d" in value:
        return {decode(k): decode(v) for k, v in value["d"]}
    if "b" in value:
        return bytes.fromhex(value["b"])
    if "c" in value:
        return complex(float(value["c"][0]), float(value["c"][1]))
    return Opaque(value.get("x", "?"))


# --- the driver's own channel -------------------------------------------------------------------

TOKEN_FD = int(os.environ.get("AVP_TOKEN_FD", "-1"))
REPORT_FD = int(os.environ.get("AVP_REPORT_FD", "-1"))
PRIVATE_FDS = [TOKEN_FD, REPORT_FD]


def finish(passed, total, failure):
    """Only reached after the last test: token + verdict on the report pipe, then exit at once."""
    token = os.read(TOKEN_FD, 64)
    verdict = {"passed": passed, "total": total, "first_failure": failure}
    os.write(REPORT_FD, token + dumps(verdict).encode())
    os._exit(0)


def no_dumping():
    try:
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


def enter_child(keep):
    """First thing in a child: its own process group (killed whole after its test), and no fd the
    model code must not have."""
    os.setpgid(0, 0)
    for fd in PRIVATE_FDS:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


EXCERPTS = [True]  # False: report exception types only (the model may have read host files)


def error_text(exc):
    if not EXCERPTS[0]:
        return type(exc).__name__
    return _short(f"{type(exc).__name__}: {exc}")


# --- function calls in a child ------------------------------------------------------------------


class ChildGone(Exception):
    pass


class CandidateError(Exception):
    pass


class Child:
    """A forked child that runs `source`, then serves calls of one function over pipes."""

    def __init__(self, source, name, make_function, filename):
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(req_w)
            os.close(resp_r)
            enter_child(keep=())
            self._serve(source, name, make_function, filename, req_r, resp_w)
            os._exit(0)
        os.close(req_r)
        os.close(resp_w)
        self.requests = os.fdopen(req_w, "w", encoding="utf-8")
        self.responses = os.fdopen(resp_r, "r", encoding="utf-8")
        ready = self._receive()
        if "load_error" in ready:
            raise CandidateError(ready["load_error"])

    @staticmethod
    def _serve(source, name, make_function, filename, req_r, resp_w):
        out = os.fdopen(resp_w, "w", encoding="utf-8")
        requests = os.fdopen(req_r, "r", encoding="utf-8")

        def send(message):
            out.write(dumps(message) + "\n")
            out.flush()

        try:
            namespace = {"__name__": name}
            exec(compile(source, filename, "exec"), namespace)
            function = make_function(namespace)
        except BaseException as exc:  # SystemExit included: loading must finish
            send({"load_error": error_text(exc)})
            return
        send({"ready": True})
        for line in requests:
            call = loads(line)
            try:
                result = function(*decode(call["args"]))
                message = {"ok": encode(result)}
            except BaseException as exc:
                message = {"exc": error_text(exc)}
            try:
                send(message)
            except ValueError as exc:  # not encodable
                send({"exc": error_text(exc)})

    def _receive(self):
        try:
            line = self.responses.readline(MAX_LINE)
            if not line.endswith("\n"):
                raise ChildGone(self._gone())
            return loads(line)
        except (ValueError, MemoryError, RecursionError):
            raise ChildGone("the solution's process sent an unreadable reply") from None

    def _gone(self):
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return "the solution's process is gone"
        if os.WIFSIGNALED(status):
            return f"the solution's process was killed by signal {os.WTERMSIG(status)}"
        return f"the solution's process exited (status {os.waitstatus_to_exitcode(status)})"

    def call(self, *args):
        try:
            self.requests.write(dumps({"args": encode(list(args))}) + "\n")
            self.requests.flush()
        except (BrokenPipeError, OSError):
            raise ChildGone(self._gone()) from None
        reply = self._receive()
        if "exc" in reply:
            raise CandidateError(reply["exc"])
        if "ok" not in reply:
            raise ChildGone("the solution's process sent a malformed reply")
        return decode(reply["ok"])

    def close(self):
        kill_group(self.pid)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def kill_group(pid):
    """SIGKILL a child's process group (what it forked and left behind, too)."""
    try:
        os.killpg(pid, SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, SIGKILL)
        except ProcessLookupError:
            pass


# --- HumanEval ----------------------------------------------------------------------------------


def run_humaneval(spec):
    entry = spec["entry_point"]

    def make_function(namespace):
        function = namespace.get(entry)
        if not callable(function):
            raise NameError(f"the solution defines no function {entry!r}")
        return function

    # The tests first (trusted item text): the child then inherits the modules they imported.
    namespace = {"__name__": "__check__"}
    exec(compile(spec["prompt"], "prompt.py", "exec"), namespace)  # helpers the tests use
    exec(compile(spec["test"], "test.py", "exec"), namespace)
    try:
        child = Child(spec["program"], "__humaneval__", make_function, "solution.py")
    except (CandidateError, ChildGone) as exc:
        return 0, 1, f"solution did not load: {_short(exc)}"
    namespace[entry] = child.call  # some tests call the function by its name (HumanEval/33)
    try:
        namespace["check"](child.call)
    except AssertionError:
        import traceback

        frames = traceback.extract_tb(sys.exc_info()[2])
        line = [f.lineno for f in frames if f.filename == "test.py"]
        where = f" (test line {line[-1]})" if line else ""
        return 0, 1, f"assertion failed{where}"
    except CandidateError as exc:
        return 0, 1, f"the function raised {exc}"
    except ChildGone as exc:
        return 0, 1, str(exc)
    except Exception as exc:
        return 0, 1, f"the tests failed: {error_text(exc)}"
    finally:
        child.close()
    return 1, 1, None


# --- LiveCodeBench ------------------------------------------------------------------------------

LCB_PRELUDE = (
    "import sys, os, math, re, heapq, bisect, string, itertools, functools\n"
    "import collections\n"
    "from typing import *\nfrom collections import *\nfrom itertools import *\n"
    "from functools import *\nfrom heapq import *\nfrom bisect import *\n"
    "from math import *\n"
)


def stripped_lines(text):
    return [line.strip() for line in text.strip().split("\n")]


def as_decimals(line):
    from decimal import Decimal, InvalidOperation

    try:
        return [Decimal(x) for x in line.split()]
    except (InvalidOperation, ValueError):
        return None


def same_stdout(got, want):
    """As LiveCodeBench's grade_stdio: strip, split lines, strip each; else equal Decimals."""
    got_lines, want_lines = stripped_lines(got), stripped_lines(want)
    if len(got_lines) != len(want_lines):
        return f"{len(got_lines)} output lines, expected {len(want_lines)}"
    for i, (g, w) in enumerate(zip(got_lines, want_lines, strict=True)):
        if g == w:
            continue
        gd, wd = as_decimals(g), as_decimals(w)
        if gd is None or wd is None or gd != wd:
            return f"line {i + 1} differs"
    return None


def run_stdin_test(code, test, timeout_s):
    """One stdin test in a fresh child; the driver compares its stdout. None = passed."""
    inp = os.memfd_create("stdin", 0)
    os.write(inp, test["input"].encode())
    os.lseek(inp, 0, os.SEEK_SET)
    out = os.memfd_create("stdout", 0)
    pid = os.fork()
    if pid == 0:
        enter_child(keep=())
        os.dup2(inp, 0)
        os.dup2(out, 1)
        os.close(inp)
        os.close(out)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 (the child's own stdin for its life)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        try:
            exec(code, {"__name__": "__main__"})
        except SystemExit:
            pass
        except BaseException:
            import traceback

            traceback.print_exc(limit=3)
            sys.stderr.flush()
            os._exit(1)
        try:
            sys.stdout.flush()
        finally:
            os._exit(0)
    os.close(inp)
    status = wait_child(pid, timeout_s)
    kill_group(pid)
    size = os.fstat(out).st_size
    got = os.pread(out, min(size, MAX_LINE), 0).decode("utf-8", errors="replace")
    os.close(out)
    if status is None:
        return f"timed out after {timeout_s}s"
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    if os.waitstatus_to_exitcode(status) != 0:
        return "runtime error"
    return same_stdout(got, test["output"])


def wait_child(pid, timeout_s):
    """The child's wait status, or None after killing it at the deadline (a pidfd wakes us the
    moment it exits; polling where the kernel has no pidfd_open)."""
    deadline = time.monotonic() + timeout_s
    try:
        import select

        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        delay = 0.0005
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, SIGKILL)
                os.waitpid(pid, 0)
                return None
            if pidfd is not None:
                select.select([pidfd], [], [], left)
            else:
                time.sleep(min(delay, left))
                delay = min(delay * 2, 0.01)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def run_functional(spec, source):
    import signal

    name = spec["func_name"]

    def make_function(namespace):
        solution = namespace.get("Solution")
        target = solution() if solution is not None else None
        function = getattr(target, name, None) if target is not None else namespace.get(name)
        if not callable(function):
            raise NameError(f"no method {name!r} on Solution")
        return function

    tests = spec["tests"]
    try:
        # Not "__main__": as the official grader (a module "tmp_sol"), main blocks do not run.
        child = Child(source, "__solution__", make_function, "solution.py")
    except (CandidateError, ChildGone) as exc:
        return 0, len(tests), f"test 1: {_short(exc)}"
    passed = 0
    try:
        for i, test in enumerate(tests):
            args = [loads(line) for line in test["input"].split("\n")]
            signal.alarm(max(1, int(spec["timeout_s"] + 0.999)))
            try:
                got = child.call(*args)
            finally:
                signal.alarm(0)
            if isinstance(got, tuple):
                got = list(got)
            try:
                same = got == loads(test["output"])
            except RecursionError:
                same = False
            if not same:
                return passed, len(tests), f"test {i + 1}: wrong return value"
            passed += 1
    except CandidateError as exc:
        return passed, len(tests), f"test {passed + 1}: {exc}"
    except ChildGone as exc:
        return passed, len(tests), f"test {passed + 1}: {exc}"
    except TimeoutError:
        return passed, len(tests), f"test {passed + 1}: timed out after {spec['timeout_s']}s"
    finally:
        child.close()
    return passed, len(tests), None


def _alarm(signum, frame):
    raise TimeoutError


def run_livecodebench(spec):
    source = LCB_PRELUDE + spec["program"]
    tests = spec["tests"]
    try:
        code = compile(source, "solution.py", "exec")
    except (SyntaxError, ValueError) as exc:
        return 0, len(tests), f"compile error: {_short(exc)}"
    exec(LCB_PRELUDE, {})  # trusted: each test's child then finds these modules loaded
    if spec["func_name"]:
        import signal

        signal.signal(signal.SIGALRM, _alarm)
        return run_functional(spec, source)
    for i, test in enumerate(tests):
        failure = run_stdin_test(code, test, spec["timeout_s"])
        if failure is not None:
            return i, len(tests), f"test {i + 1}: {failure}"
    return len(tests), len(tests), None


def main():
    no_dumping()  # before any fork: children inherit it, and /proc/<driver>/fd stays closed
    with open(os.path.join(os.environ["AVP_INPUT"], "spec.json"), encoding="utf-8") as handle:
        spec = loads(handle.read())
    EXCERPTS[0] = spec.get("excerpts", True)
    runner = run_humaneval if spec["kind"] == "humaneval" else run_livecodebench
    try:
        passed, total, failure = runner(spec)
    except Exception as exc:  # the driver's own failure: an infrastructure error, not a grade
        token = os.read(TOKEN_FD, 64)
        os.write(REPORT_FD, token + dumps({"driver_error": _short(repr(exc))}).encode())
        os._exit(0)
    finish(passed, total, failure)


if __name__ == "__main__":
    main()
