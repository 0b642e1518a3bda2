"""Run untrusted Python in a sandbox built from well-kept parts, and say which parts held it.

Threat model: the code is hostile (a model's answer, or an answer crafted to cheat or to escape).
It must not read the host (other stores in /tmp, the project folder, keys in the environment), reach
any socket (network, loopback, the Unix socket of a local PostgreSQL), exhaust the host (memory
across many processes, disk, process table, SysV shared memory), outlive its run (daemons; the
grading process killed with kill -9), or leave anything behind.

Layers, each used when this machine allows it (probed once per process, see `isolation()`):

- **bubblewrap** (`bwrap`, Debian package `bubblewrap`): new user, mount, PID, network, IPC, UTS
  and cgroup namespaces (`--unshare-all`); inside, the code runs as uid 65534 with no capabilities
  and may not create further user namespaces (`--disable-userns`). The root is an empty read-only
  tmpfs holding only read-only binds of /usr (with the /bin, /lib* links) and the interpreter's own
  prefix: no /tmp, /home, /work, /etc, /run or /var of the host, so no host file and no host Unix
  socket exists in there. Writable: a size-limited tmpfs on /tmp (the cwd and HOME; `TMPFS_SIZE`)
  and one on /dev/shm. The program and its inputs are copied in from memfds (read-only under /in),
  so a run needs no folder on the host disk at all. The network namespace has only its own
  loopback. On x86_64 a seccomp filter (graders/sandbox_seccomp.py) refuses ptrace,
  process_vm_readv, the keyring, bpf, io_uring, mounts and namespace creation ("+seccomp").
  SysV IPC objects live in the run's IPC namespace and vanish with it. The program runs as PID 2
  under bwrap's init (PID 1): when that dies the kernel kills everything left inside;
  `--die-with-parent` (PR_SET_PDEATHSIG) makes it die when the grading process dies, even by
  kill -9.
- **cgroup** (v2 `memory.max`/`memory.swap.max`/`pids.max`, or v1 `memory.limit_in_bytes` and
  `pids.max` where only v1 controllers are mounted), one cgroup per run under the grading process's
  own, when writable: total memory of all the run's processes (tmpfs pages included) and their
  number are bounded; the peak memory and CPU time are read from it; it is emptied and removed after
  the run (and cgroups left by a grading process that was killed are removed by the next one).
- **rlimits**, always: CPU seconds, address space per process (`DEFAULT_MEMORY_MB`), file size,
  open files, no core dumps; a new session; a wall-clock timeout (then SIGKILL); a clean
  environment (no API keys); stdout/stderr kept up to `OUTPUT_CAP` bytes.

Fallback, said once on stderr and recorded in every result (`SandboxResult.isolation`, which the
code graders copy into every grade's explanation): without a working bwrap the code runs with
rlimits only (`"rlimits-only"`), in a scratch folder on the host, with network, host files and
host sockets reachable; `avp sandbox check` shows what that leaves uncontained. Without a writable
cgroup the label lacks "+cgroup" and memory is bounded per process only. `AVP_SANDBOX_ISOLATION=
rlimits-only` forces the fallback (perf comparisons).

Positive evidence (`report=True`): the run gets a per-run random token through a pipe the grading
process fills and closes before the start, and a second pipe to write its report on; only a report
that begins with the token counts (`SandboxResult.report`). The code graders' trusted driver
(graders/sandbox_driver.py) keeps the token out of the model code's reach; see there.

Failures of the sandbox itself (cannot spawn, namespace setup failed) raise `SandboxError`: they
are never reported as a wrong answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from avp_harness.errors import SandboxError
from graders import sandbox_seccomp

DEFAULT_WORKERS = 2  # concurrent sandboxed processes per event loop (AVP_SANDBOX_WORKERS overrides)
DEFAULT_MEMORY_MB = 1024  # per process (RLIMIT_AS) and, with a cgroup, for the whole run
FILE_SIZE_MB = 64  # largest file the code may write
MAX_PROCESSES = 64  # pids.max (cgroup), or RLIMIT_NPROC without one when not root
OUTPUT_CAP = 1024 * 1024  # bytes of stdout / stderr kept
REPORT_CAP = 4 * 1024 * 1024  # bytes of the report pipe kept
TMPFS_SIZE = 64 * 1024 * 1024  # bytes: the writable /tmp (cwd) and /dev/shm of a bwrap run
SANDBOX_UID = 65534
INPUT_DIR = "/in"  # where the program and its files are, read-only, under bwrap
# -I: isolated mode (no user site, PYTHON* variables ignored); -S: no site-packages at all. Graded
# code gets the standard library only (all HumanEval / LiveCodeBench need), never the harness's own
# packages, and starts ~3x faster (the editable-install finder alone costs ~60 ms per start).
PYTHON_FLAGS = ("-I", "-S")
CGROUP_PREFIX = "avp-sbx-"
SCRATCH_PREFIX = "avp-sbx-"  # + the grading process's pid: rlimits-only runs' folders in $TMPDIR

Isolation = str  # "bwrap[+seccomp][+cgroup]" | "rlimits-only[+cgroup]"
log = logging.getLogger("avp.sandbox")


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """What happened to one sandboxed run."""

    exit_code: int | None  # None when killed before it exited on its own; negative = signal
    stdout: str
    stderr: str
    timed_out: bool
    killed_reason: str | None  # "wall_timeout", "cpu_limit", "memory", "file_size"... or None
    isolation: Isolation
    wall_s: float
    peak_memory_bytes: int | None = None  # whole run (cgroup); None without one
    cpu_s: float | None = None  # whole run (cgroup); None without one
    report: str | None = None  # what followed the token on the report pipe (report=True runs)
    report_forged: bool = False  # something was written on the report pipe without the token

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


# --- concurrency bound --------------------------------------------------------------------------

_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
_workers = int(os.environ.get("AVP_SANDBOX_WORKERS", DEFAULT_WORKERS))


def set_workers(n: int) -> None:
    """Set how many sandboxed processes may run at once (per event loop)."""
    global _workers
    if n < 1:
        raise SandboxError(f"sandbox workers must be >= 1, got {n}")
    _workers = n
    _semaphores.clear()


def _semaphore() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    sem = _semaphores.get(loop)
    if sem is None:
        sem = _semaphores[loop] = asyncio.Semaphore(_workers)
    return sem


# --- cgroups ------------------------------------------------------------------------------------


def _cgroup_bases() -> dict[str, Path]:
    """Writable parent folders for per-run cgroups: {"v2": dir} or {"memory": dir, "pids": dir}."""
    own: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                own[name] = path
    mounts: dict[str, Path] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            fstype, _, options = right.split(" ")[:3]
            point = Path(left.split(" ")[4])
            if fstype == "cgroup2":
                mounts.setdefault("", point)
            elif fstype == "cgroup":
                for name in ("memory", "pids", "cpuacct"):
                    if name in options.split(","):
                        mounts.setdefault(name, point)
    if "" in mounts and "" in own:
        base = mounts[""] / own[""].lstrip("/")
        with contextlib.suppress(OSError):
            enabled = (base / "cgroup.subtree_control").read_text().split()
            if not {"memory", "pids"} <= set(enabled):
                (base / "cgroup.subtree_control").write_text("+memory +pids")
            if {"memory", "pids"} <= set((base / "cgroup.subtree_control").read_text().split()):
                return {"v2": base}
    if "memory" in mounts and "pids" in mounts:
        bases: dict[str, Path] = {
            name: mounts[name] / own.get(name, "/").lstrip("/")
            for name in ("memory", "pids", "cpuacct")
            if name in mounts
        }
        if all(os.access(b, os.W_OK) for b in bases.values()):
            return bases
    return {}


class _Cgroup:
    """One run's cgroup (v2, or one folder per v1 controller)."""

    _counter = 0

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs

    @classmethod
    def create(cls, bases: dict[str, Path], memory_bytes: int) -> _Cgroup:
        cls._counter += 1
        name = f"{CGROUP_PREFIX}{os.getpid()}-{cls._counter}-{secrets.token_hex(3)}"
        dirs = {kind: base / name for kind, base in bases.items()}
        group = cls(dirs)
        try:
            for d in dirs.values():
                d.mkdir()
            if "v2" in dirs:
                d = dirs["v2"]
                (d / "memory.max").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):  # absent without swap accounting
                    (d / "memory.swap.max").write_text("0")
                (d / "pids.max").write_text(str(MAX_PROCESSES))
            else:
                (dirs["memory"] / "memory.limit_in_bytes").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):
                    (dirs["memory"] / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
                (dirs["pids"] / "pids.max").write_text(str(MAX_PROCESSES))
        except OSError as exc:
            group.remove()
            raise SandboxError(f"sandbox: cannot set up cgroup {name}: {exc}") from exc
        return group

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def _read(self, kind: str, name: str) -> str | None:
        try:
            return (self.dirs[kind] / name).read_text()
        except (OSError, KeyError):
            return None

    def stats(self) -> tuple[int | None, float | None, bool]:
        """(peak memory bytes, cpu seconds, an OOM kill happened)."""
        if "v2" in self.dirs:
            peak = self._read("v2", "memory.peak")
            cpu = self._read("v2", "cpu.stat") or ""
            match = re.search(r"usage_usec (\d+)", cpu)
            events = self._read("v2", "memory.events") or ""
            oom = re.search(r"oom_kill (\d+)", events)
            return (
                int(peak) if peak else None,
                int(match.group(1)) / 1e6 if match else None,
                bool(oom and int(oom.group(1))),
            )
        peak = self._read("memory", "memory.max_usage_in_bytes")
        cpu_ns = self._read("cpuacct", "cpuacct.usage")
        oom_control = self._read("memory", "memory.oom_control") or ""
        oom = re.search(r"oom_kill (\d+)", oom_control)
        failcnt = self._read("memory", "memory.failcnt")
        oom_hit = bool(oom and int(oom.group(1)))
        if oom is None:  # kernels without the oom_kill counter: the limit was hit
            oom_hit = bool(failcnt and int(failcnt))
        return (
            int(peak) if peak else None,
            int(cpu_ns) / 1e9 if cpu_ns else None,
            oom_hit,
        )

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in self.procs_files():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in Path(path).read_text().split())
        return sorted(found)

    async def empty(self, timeout_s: float = 10.0) -> None:
        """SIGKILL whatever is still in the cgroup and wait until it has left."""
        deadline = time.monotonic() + timeout_s
        delay = 0.001
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def remove(self) -> None:
        for d in self.dirs.values():
            with contextlib.suppress(OSError):
                d.rmdir()


def _sweep_stale_cgroups(bases: dict[str, Path]) -> None:
    """Remove empty per-run cgroups left by grading processes that were killed."""
    for base in bases.values():
        with contextlib.suppress(OSError):
            for d in base.iterdir():
                match = re.fullmatch(rf"{CGROUP_PREFIX}(\d+)-.*", d.name)
                if match and not Path(f"/proc/{match.group(1)}").exists():
                    with contextlib.suppress(OSError):
                        d.rmdir()


# --- isolation detection ------------------------------------------------------------------------


def _python_binds() -> list[str]:
    """bwrap options that make the interpreter and its standard library visible, read-only."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/", name)
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    prefix = os.path.realpath(sys.base_prefix)
    if not (prefix + "/").startswith("/usr/"):
        args += ["--ro-bind", prefix, prefix]
    return args


def interpreter() -> str:
    """The Python the sandbox runs: this one's base interpreter (the venv's own, unresolved, is a
    symlink into it), which reaches only the standard library with -I -S."""
    return os.path.realpath(sys.executable)


def _bwrap_argv(argv: list[str], files: dict[str, int], seccomp_fd: int | None) -> list[str]:
    args = [
        shutil.which("bwrap") or "bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
        "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
        "--die-with-parent", "--cap-drop", "ALL",  # no tty to steal: the launcher is setsid
        *_python_binds(),
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(TMPFS_SIZE), "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
        "--size", str(TMPFS_SIZE), "--tmpfs", "/tmp",
    ]  # fmt: skip
    for name, fd in files.items():
        args += ["--ro-bind-data", str(fd), f"{INPUT_DIR}/{name}"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return [*args, "--remount-ro", "/", "--chdir", "/tmp", "--", *argv]


def _probe_bwrap(seccomp: bool) -> str | None:
    """None when bwrap works here (runs the interpreter without network), else why not."""
    if not shutil.which("bwrap"):
        return "bwrap is not installed (Debian package bubblewrap)"
    code = "import os\nprint(os.getuid(), os.readlink('/proc/self/ns/net'))"
    fd = sandbox_seccomp.program_fd() if seccomp else None
    argv = _bwrap_argv([interpreter(), *PYTHON_FLAGS, "-c", code], {}, fd)
    try:
        env = _clean_env("/tmp")
        fds = [fd] if fd is not None else []
        out = subprocess.run(argv, capture_output=True, timeout=30, env=env, pass_fds=fds)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap cannot start: {exc}"
    finally:
        if fd is not None:
            os.close(fd)
    # Runs as the sandbox uid, in a network namespace of its own.
    expected = f"{SANDBOX_UID} "
    got = out.stdout.decode(errors="replace").strip()
    own_net = os.readlink("/proc/self/ns/net")
    if out.returncode == 0 and got.startswith(expected) and got.split(" ", 1)[1] != own_net:
        return None
    return "bwrap does not work here: " + out.stderr.decode(errors="replace").strip()[-200:]


@dataclass(frozen=True)
class _Setup:
    bwrap: bool
    cgroups: dict[str, Path]
    label: Isolation
    notes: tuple[str, ...]
    seccomp: bool = False


@lru_cache(maxsize=1)
def _setup() -> _Setup:
    forced = os.environ.get("AVP_SANDBOX_ISOLATION", "")
    notes = []
    forced_off = forced.startswith("rlimits")
    why_not = "forced by AVP_SANDBOX_ISOLATION" if forced_off else _probe_bwrap(False)
    seccomp = not why_not and sandbox_seccomp.supported() and _probe_bwrap(True) is None
    if not why_not and not seccomp:
        notes.append(f"no seccomp filter ({platform.machine()} or refused)")
    if why_not:
        notes.append(f"no bwrap ({why_not}): network, host files and sockets are reachable")
    bases = {} if forced == "rlimits-only" else _cgroup_bases()
    if bases:
        _sweep_stale_cgroups(bases)
    else:
        notes.append("no writable cgroup: memory is bounded per process only")
    label = "rlimits-only" if why_not else ("bwrap+seccomp" if seccomp else "bwrap")
    label += "+cgroup" if bases else ""
    if notes:
        log.warning("sandbox isolation %s: %s", label, "; ".join(notes))
    return _Setup(not why_not, bases, label, tuple(notes), seccomp)


def isolation() -> Isolation:
    """The isolation every run uses on this machine (probed once, then cached)."""
    return _setup().label


def isolation_notes() -> tuple[str, ...]:
    """Why the isolation is weaker than "bwrap+cgroup" here (empty when it is not)."""
    return _setup().notes


# --- one run ------------------------------------------------------------------------------------


def _clean_env(home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "TMPDIR": home,
    }


SETUP_FAILED = 125  # exit code of the launcher when joining the cgroup failed
SETUP_MARKER = "avp-sandbox-setup-failed"
# The launcher: joins the run's cgroup(s), sets the rlimits, then execs the sandbox. A shell rather
# than a preexec_fn, so the grading process (big: numpy, sklearn...) spawns with vfork instead of
# copying its page tables on every run. $1 = how many cgroup.procs files follow, then the command.
_LAUNCHER = f"""n=$1; shift
while [ "$n" -gt 0 ]; do echo $$ > "$1" || {{ echo {SETUP_MARKER} "$1" >&2; exit {SETUP_FAILED}; }}
  shift; n=$((n - 1)); done
ulimit -S -t "$AVP_CPU" && ulimit -H -t "$((AVP_CPU + 1))" && ulimit -v "$AVP_AS_KB" &&
ulimit -f "$AVP_FSIZE_BLOCKS" && ulimit -c 0 && ulimit -n 256 &&
{{ [ -z "$AVP_NPROC" ] || ulimit -p "$AVP_NPROC"; }} ||
  {{ echo {SETUP_MARKER} ulimit >&2; exit {SETUP_FAILED}; }}
unset AVP_CPU AVP_AS_KB AVP_FSIZE_BLOCKS AVP_NPROC
exec "$@"
"""


def _launcher(
    argv: list[str], cpu_s: int, memory_mb: int, nproc: int | None, procs_files: list[str]
) -> tuple[list[str], dict[str, str]]:
    """The launcher's command line and the variables it reads (removed before the exec)."""
    limits = {
        "AVP_CPU": str(cpu_s),
        "AVP_AS_KB": str(memory_mb * 1024),
        "AVP_FSIZE_BLOCKS": str(FILE_SIZE_MB * 2048),  # 512-byte blocks
        "AVP_NPROC": "" if nproc is None else str(nproc),
    }
    return ["/bin/sh", "-c", _LAUNCHER, "sh", str(len(procs_files)), *procs_files, *argv], limits


async def _read_capped(stream: asyncio.StreamReader | None, cap: int) -> bytes:
    """Read a stream to EOF, keeping the first `cap` bytes."""
    if stream is None:
        return b""
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < cap:
            kept += chunk[: cap - len(kept)]
    return bytes(kept)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def run_python(
    code: str,
    *,
    stdin: str = "",
    timeout_s: float,
    memory_mb: int = DEFAULT_MEMORY_MB,
    files: dict[str, str] | None = None,
    report: bool = False,
) -> SandboxResult:
    """Run `code` as `main.py` in a fresh sandbox; `files` are extra files put next to it.

    The program finds its files in `os.environ["AVP_INPUT"]` (its cwd is a private scratch
    folder). With `report=True` it gets `AVP_TOKEN_FD` and `AVP_REPORT_FD` (see the module doc).
    Waits for a free worker slot first (see `set_workers`). Raises `SandboxError` only when the
    sandbox itself fails; anything the code does is reported in the result.
    """
    if timeout_s <= 0 or memory_mb <= 0:
        raise SandboxError(
            f"sandbox needs positive limits (timeout_s={timeout_s}, memory_mb={memory_mb})"
        )
    setup = _setup()
    async with _semaphore():
        return await _run(code, stdin, timeout_s, memory_mb, files or {}, setup, report)


async def _run(
    code: str,
    stdin: str,
    timeout_s: float,
    memory_mb: int,
    files: dict[str, str],
    setup: _Setup,
    report: bool,
) -> SandboxResult:
    started = time.perf_counter()
    all_files = {**files, "main.py": code}
    scratch: str | None = None
    to_close: list[int] = []
    group: _Cgroup | None = None
    try:
        if setup.bwrap:
            fds = {}
            for name, text in all_files.items():
                fd = os.memfd_create(f"avp-{name}")  # close-on-exec: only this run gets it
                to_close.append(fd)
                os.write(fd, text.encode("utf-8"))
                os.lseek(fd, 0, os.SEEK_SET)
                fds[name] = fd
            seccomp_fd = sandbox_seccomp.program_fd() if setup.seccomp else None
            if seccomp_fd is not None:
                to_close.append(seccomp_fd)
            argv = _bwrap_argv(
                [interpreter(), *PYTHON_FLAGS, f"{INPUT_DIR}/main.py"], fds, seccomp_fd
            )
            env = _clean_env("/tmp")
            env["AVP_INPUT"] = INPUT_DIR
            cwd = "/"
            nproc = None  # pids.max bounds it; RLIMIT_NPROC would count the caller's own processes
        else:
            scratch = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
            os.chmod(scratch, 0o700)
            for name, text in all_files.items():
                Path(scratch, name).write_text(text, encoding="utf-8")
            argv = [interpreter(), *PYTHON_FLAGS, "main.py"]
            if not os.access(argv[0], os.X_OK):
                raise SandboxError(f"sandbox: cannot start {argv[0]!r}: not an executable")
            env = _clean_env(scratch)
            env["AVP_INPUT"] = scratch
            cwd = scratch
            nproc = None if (os.geteuid() == 0 or setup.cgroups) else MAX_PROCESSES
        token = secrets.token_hex(16)
        report_r = -1
        if report:
            token_r, token_w = os.pipe()
            os.write(token_w, token.encode() + b"\n")
            os.close(token_w)
            report_r, report_w = os.pipe()
            to_close += [token_r, report_w, report_r]
            env["AVP_TOKEN_FD"], env["AVP_REPORT_FD"] = str(token_r), str(report_w)
        if setup.cgroups:
            group = _Cgroup.create(setup.cgroups, memory_mb * 1024 * 1024)
        procs = group.procs_files() if group else []
        cpu_s = max(1, int(timeout_s + 0.999))
        launch, limits = _launcher(argv, cpu_s, memory_mb, nproc, procs)
        spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
            *launch,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env={**env, **limits},
            start_new_session=True,
            pass_fds=[fd for fd in to_close if fd != report_r],
        ))
        try:
            proc = await asyncio.shield(spawn)
        except asyncio.CancelledError:
            await _kill_when_started(spawn, group)
            raise
        except OSError as exc:
            raise SandboxError(f"sandbox: cannot start {argv[0]!r}: {exc}") from exc
        for fd in to_close:  # the child has its copies; ours would keep the report pipe open
            if fd != report_r:
                os.close(fd)
        to_close = []  # the report pipe's read end is owned by its reader now
        reader = _pipe_reader(report_r) if report else None
        exit_code, out, err, timed_out, raw_report = await _communicate(
            proc, stdin.encode("utf-8"), timeout_s, group, reader
        )
        peak = cpu = None
        oom = False
        if group:
            await group.empty()
            peak, cpu, oom = group.stats()
        if setup.bwrap and exit_code == 1 and err.startswith("bwrap:"):
            raise SandboxError(f"sandbox: bwrap setup failed: {err.strip()[-300:]}")
        if exit_code == SETUP_FAILED and err.startswith(SETUP_MARKER):
            raise SandboxError(f"sandbox: launcher setup failed: {err.strip()[-300:]}")
        if exit_code == 127 and "not found" in err and not out:
            raise SandboxError(f"sandbox: cannot start: {err.strip()[-300:]}")
        got_report, forged = None, False
        if raw_report:
            head, _, rest = raw_report.partition("\n")
            if head == token:
                got_report = rest
            else:
                forged = True
        return SandboxResult(
            exit_code=None if timed_out else exit_code,
            stdout=out,
            stderr=err,
            timed_out=timed_out,
            killed_reason=_killed_reason(exit_code, err, timed_out, oom),
            isolation=setup.label,
            wall_s=time.perf_counter() - started,
            peak_memory_bytes=peak,
            cpu_s=cpu,
            report=got_report,
            report_forged=forged,
        )
    finally:
        for fd in to_close:
            with contextlib.suppress(OSError):
                os.close(fd)
        if group:
            await group.empty()
            group.remove()
        if scratch:
            await _remove_tree(scratch)


def scratch_dirs(pid: int) -> list[Path]:
    """Host scratch folders of the grading process `pid` (only rlimits-only runs make them)."""
    return list(Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}{pid}-*"))


async def _remove_tree(path: str) -> None:
    """Delete a scratch folder however deep it is (shutil.rmtree recurses and gives up on 32k
    nested folders; GNU rm walks it iteratively), off the event loop: it can take a minute."""
    for _ in range(2):  # a second pass for what a still-dying process wrote meanwhile
        rm = await asyncio.create_subprocess_exec(
            "rm", "-rf", "--one-file-system", "--", path,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await rm.wait()
        if not os.path.lexists(path):
            return


async def _kill_when_started(
    spawn: asyncio.Future[asyncio.subprocess.Process], group: _Cgroup | None
) -> None:
    """Cancelled while the process was being started (Ctrl-C, SIGTERM, a stopped run): let the
    start finish, then kill and reap what it started. Cancelling Python 3.11's
    create_subprocess_exec half-way can leave its transport waiting for ever on pipes that
    connect after it closed: a collector stopped by SIGTERM then never exited."""
    try:
        proc = await spawn
    except Exception:  # it did not start: nothing to kill
        return
    _kill_everything(proc, group)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:  # drain, so the pipes reach EOF and the transport can finish
            with contextlib.suppress(Exception):
                await stream.read()
    await proc.wait()


async def _pipe_reader(fd: int) -> bytes:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=REPORT_CAP)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0)
    )
    try:
        return await _read_capped(reader, REPORT_CAP)
    finally:
        transport.close()


async def _communicate(
    proc: asyncio.subprocess.Process,
    data: bytes,
    timeout_s: float,
    group: _Cgroup | None,
    report: Coroutine[None, None, bytes] | None,
) -> tuple[int | None, str, str, bool, str]:
    """Feed stdin, read capped output (and the report), kill everything on the deadline."""

    async def feed() -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(data)
            await proc.stdin.drain()
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass

    async def nothing() -> bytes:
        return b""

    tasks = asyncio.gather(
        feed(),
        _read_capped(proc.stdout, OUTPUT_CAP),
        _read_capped(proc.stderr, OUTPUT_CAP),
        report if report is not None else nothing(),
        proc.wait(),
    )
    timed_out = False
    code: int | None
    try:
        _, out, err, rep, code = await asyncio.wait_for(asyncio.shield(tasks), timeout_s)
    except TimeoutError:
        timed_out = True
        _kill_everything(proc, group)
        try:  # a descendant that escaped may still hold the pipes: give up after a while
            _, out, err, rep, code = await asyncio.wait_for(tasks, 5.0)
        except TimeoutError:
            _kill_group(proc.pid)
            tasks.cancel()
            await asyncio.gather(tasks, return_exceptions=True)
            out, err, rep, code = b"", b"", b"", proc.returncode
    except BaseException:  # cancelled: kill the run, let it be reaped, then re-raise
        _kill_everything(proc, group)
        await asyncio.gather(tasks, return_exceptions=True)
        raise
    _kill_everything(proc, group)  # whatever the program left behind
    decode = lambda b: b.decode("utf-8", errors="replace")  # noqa: E731
    return code, decode(out), decode(err), timed_out, decode(rep)


def _kill_everything(proc: asyncio.subprocess.Process, group: _Cgroup | None) -> None:
    if proc.returncode is None:  # not reaped yet, so the pid is still ours
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)  # bwrap: its init dies with it, then all inside
    _kill_group(proc.pid)
    if group:
        for p in group.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p, signal.SIGKILL)


def _killed_reason(code: int | None, stderr: str, timed_out: bool, oom: bool) -> str | None:
    if timed_out:
        return "wall_timeout"
    if oom or "MemoryError" in stderr:
        return "memory"
    if code in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "cpu_limit"
    if code in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ):
        return "file_size"
    if code in (-signal.SIGKILL, 128 + signal.SIGKILL):
        return "killed"
    return None
