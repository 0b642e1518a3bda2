"""The sandbox's attack suite: hostile programs, each with the host-side check that says whether the
sandbox contained it. `avp sandbox check` runs them all on this machine; the integration tests run
each one and assert it was contained where the isolation it needs is available.

An attack that could harm the host when the isolation it relies on is missing (filling the disk,
exhausting memory or the process table) is not run then: it is reported "not contained" with why.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from graders import sandbox


@dataclass(frozen=True)
class Outcome:
    contained: bool
    detail: str
    ran: bool = True


@dataclass(frozen=True)
class Attack:
    name: str
    what: str
    needs: str  # "bwrap", "cgroup" or "": not run (harmful) without it
    run: Callable[[Path], Awaitable[Outcome]]  # argument: the project folder to protect


def _has(need: str) -> bool:
    return not need or need in sandbox.isolation()


async def _py(code: str, timeout_s: float = 20, memory_mb: int = sandbox.DEFAULT_MEMORY_MB):
    return await sandbox.run_python(code, timeout_s=timeout_s, memory_mb=memory_mb)


def processes_named(marker: str) -> list[int]:
    """Host pids whose name (comm) is `marker`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == marker:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


async def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll `condition` until it holds or `timeout_s` passes (no fixed sleeps)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


_NAME = 'import ctypes\nctypes.CDLL(None).prctl(15, b"{marker}", 0, 0, 0)\n'


# --- the attacks --------------------------------------------------------------------------------

MEMORY_CHILDREN = """
import os, time
kids = []
for i in range(6):
    pid = os.fork()
    if pid == 0:
        try:
            b = bytearray(900 * 1024 * 1024)
            for j in range(0, len(b), 4096):
                b[j] = 1
            os.write(1, b"allocated\\n")
            time.sleep(1)
        except MemoryError:
            os.write(1, b"memoryerror\\n")
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
"""


async def memory_children(project: Path) -> Outcome:
    limit = sandbox.DEFAULT_MEMORY_MB * 1024 * 1024
    result = await _py(MEMORY_CHILDREN, timeout_s=60)
    allocated = result.stdout.count("allocated")
    peak = result.peak_memory_bytes
    # The cgroup's own peak is the criterion: children that allocate one after another (a loaded
    # machine) may each get their 900 MB without the total ever passing the bound.
    contained = peak is not None and 0 < peak <= limit
    shown = "unknown" if peak is None else f"{peak / 2**20:.0f} MiB"
    return Outcome(
        contained, f"peak {shown} (bound {limit / 2**20:.0f} MiB), {allocated}/6 got 900 MB"
    )


DISK_FILL = """
import os
total = 0
chunk = b"x" * (1024 * 1024)
try:
    for n in range(5 * 1024 // 32):
        with open(f"fill{n}", "wb") as f:
            for _ in range(32):
                f.write(chunk)
                total += len(chunk)
except OSError as exc:
    print("stopped:", exc.strerror)
print("written", total)
"""


async def disk_fill(project: Path) -> Outcome:
    before = _free_bytes()
    result = await _py(DISK_FILL, timeout_s=120)
    match = re.search(r"written (\d+)", result.stdout)
    written = int(match.group(1)) if match else None
    lost = before - _free_bytes()
    bound = sandbox.TMPFS_SIZE
    contained = written is not None and written <= bound and lost < 1024**3
    shown = "?" if written is None else f"{written / 2**20:.0f} MiB"
    return Outcome(contained, f"wrote {shown} of 5 GiB (bound {bound / 2**20:.0f} MiB)")


def _free_bytes() -> int:
    stat = os.statvfs(tempfile.gettempdir())
    return stat.f_bavail * stat.f_frsize


NESTED_DIRS = """
import os
for i in range(32000):
    os.mkdir("d")
    os.chdir("d")
print("depth", i + 1)
"""


async def nested_dirs(project: Path) -> Outcome:
    result = await _py(NESTED_DIRS, timeout_s=120)
    left = sandbox.scratch_dirs(os.getpid())
    made = "32000" in result.stdout
    detail = f"{'made' if made else 'could not make'} 32k nested folders; {len(left)} left behind"
    return Outcome(not left, detail)


SHM_SIZE = 7 * 1024 * 1024 + 4099  # unusual, to recognise the segment in /proc/sysvipc/shm
SYSV_SHM = f"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
shmid = libc.shmget(0, {SHM_SIZE}, 0o1600)
print("shmid", shmid, ctypes.get_errno())
"""


def _shm_segments() -> dict[int, int]:
    """shmid -> size of the host's SysV shared memory segments."""
    segments = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]:
            fields = line.split()
            segments[int(fields[1])] = int(fields[3])
    return segments


async def sysv_shm(project: Path) -> Outcome:
    before = _shm_segments()
    result = await _py(SYSV_SHM)
    new = [i for i, size in _shm_segments().items() if i not in before and size == SHM_SIZE]
    libc = ctypes.CDLL(None, use_errno=True)
    for shmid in new:  # clean up what escaped
        libc.shmctl(shmid, 0, None)  # IPC_RMID
    created = re.search(r"shmid (\d+)", result.stdout) is not None
    detail = f"segment {'created' if created else 'refused'} inside; {len(new)} left on the host"
    return Outcome(not new, detail)


UNIX_SOCKET = """
import socket, sys
reached = []
for path in sys.argv[1:] + ["/var/run/postgresql/.s.PGSQL.5432", "/run/postgresql/.s.PGSQL.5432"]:
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(2)
        s.connect(path)
        reached.append(path)
    except OSError:
        pass
print("reached", reached)
"""


async def unix_socket(project: Path) -> Outcome:
    folder = tempfile.mkdtemp(prefix="avp-sock-")
    path = os.path.join(folder, ".s.PGSQL.5432")
    accepted: list[bool] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(True)
        writer.close()

    server = await asyncio.start_unix_server(on_connect, path)
    os.chmod(folder, 0o755)
    os.chmod(path, 0o777)
    try:
        code = f"import sys\nsys.argv[1:] = [{path!r}]\n" + UNIX_SOCKET
        result = await _py(code)
    finally:
        server.close()
        await server.wait_closed()
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.rmdir(folder)
    reached = "reached []" not in result.stdout or bool(accepted)
    detail = "a host Unix socket was reached" if reached else "no host Unix socket reachable"
    return Outcome(not reached, detail)


HOST_FILES = """
import sys
for path in sys.argv[1:]:
    try:
        print("read", path, open(path).read())
    except OSError as exc:
        print("refused", path, exc.strerror)
"""


async def host_files(project: Path) -> Outcome:
    secret = "avp-canary-" + secrets.token_hex(8)
    name = f"avp-canary-{secrets.token_hex(4)}.txt"
    tmp_canary = Path(tempfile.gettempdir(), name)
    project_canary = project / f".{name}"
    paths = [tmp_canary, project_canary]
    try:
        for path in paths:
            path.write_text(secret)
            path.chmod(0o644)
        code = f"import sys\nsys.argv[1:] = {[str(p) for p in paths]!r}\n" + HOST_FILES
        result = await _py(code)
    finally:
        for path in paths:
            path.unlink(missing_ok=True)
    leaked = result.stdout.count(secret)
    return Outcome(leaked == 0, f"{leaked} of 2 host files (host /tmp, project folder) were read")


USERNS = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print("unshare", libc.unshare(0x10000000), ctypes.get_errno())
"""


async def user_namespace(project: Path) -> Outcome:
    result = await _py(USERNS)
    created = "unshare 0 " in result.stdout
    return Outcome(not created, "a user namespace was created" if created else "refused")


SYSCALLS = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
calls = {
    "ptrace(ATTACH, parent)": lambda: libc.ptrace(16, os.getppid(), 0, 0),
    "keyctl": lambda: libc.syscall(250, 0, 0, 0, 0),
    "bpf": lambda: libc.syscall(321, 0, 0, 0),
    "io_uring_setup": lambda: libc.syscall(425, 1, 0),
    "process_vm_readv(parent)": lambda: libc.syscall(310, os.getppid(), 0, 0, 0, 0, 0),
}
for name, call in calls.items():
    print("allowed" if call() != -1 else "refused", name)
"""


async def syscall_filter(project: Path) -> Outcome:
    result = await _py(SYSCALLS)
    allowed = [line.split(" ", 1)[1] for line in result.stdout.splitlines() if "allowed" in line]
    refused = result.stdout.count("refused")
    contained = not allowed and refused == 5
    detail = f"allowed: {', '.join(allowed)}" if allowed else f"{refused}/5 refused"
    return Outcome(contained, detail)


NETWORK = """
import socket, sys
for host, port in [("127.0.0.1", int(sys.argv[1])), ("1.1.1.1", 53)]:
    try:
        socket.create_connection((host, port), 2).close()
        print("connected", host)
    except OSError as exc:
        print("refused", host, exc.strerror)
"""


async def network(project: Path) -> Outcome:
    accepted: list[bool] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(True)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await _py(f"import sys\nsys.argv[1:] = ['{port}']\n" + NETWORK)
    reached = bool(accepted) or "connected" in result.stdout
    return Outcome(not reached, "network reached" if reached else "no host port, no internet")


FORK_BOMB = (
    _NAME
    + """
import os
if os.fork() == 0:
    os.setsid()  # a daemon that tries to outlive the run
    while True:
        pass
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
)


async def fork_bomb(project: Path) -> Outcome:
    marker = "avpb" + secrets.token_hex(4)
    await _py(FORK_BOMB.format(marker=marker), timeout_s=3)
    gone = await wait_for(lambda: not processes_named(marker), 30)
    return Outcome(gone, "nothing left after the run" if gone else "processes survived the run")


ENVIRONMENT = """
import os
print(sorted(os.environ))
"""


async def environment(project: Path) -> Outcome:
    leaked = [k for k in os.environ if "KEY" in k or "TOKEN" in k or "SECRET" in k]
    result = await _py(ENVIRONMENT)
    shown = [k for k in leaked if repr(k) in result.stdout]
    return Outcome(not shown, f"{len(shown)} secret-looking variables visible")


KILLED_GRADER = """
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from graders import sandbox
code = sys.argv[2]
asyncio.run(sandbox.run_python(code, timeout_s=600))
"""
SLEEPER = (
    _NAME
    + """
import os, time
if os.fork() == 0:
    os.setsid()
    ctypes.CDLL(None).prctl(15, b"{marker}", 0, 0, 0)
    while True:
        time.sleep(1)
open("here", "w").write("x")
while True:
    time.sleep(1)
"""
)


async def killed_grader(project: Path) -> Outcome:
    """kill -9 the grading process while its sandbox runs: nothing of it may stay."""
    marker = "avpk" + secrets.token_hex(4)
    root = str(Path(__file__).resolve().parents[1])
    grader = subprocess.Popen(
        [sys.executable, "-c", KILLED_GRADER, root, SLEEPER.format(marker=marker)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = await wait_for(lambda: len(processes_named(marker)) >= 2, 60)
    finally:
        grader.send_signal(signal.SIGKILL)
        grader.wait()
    if not started:
        return Outcome(False, "the sandboxed program never started")
    gone = await wait_for(lambda: not processes_named(marker), 30)
    folders = sandbox.scratch_dirs(grader.pid)
    survivors = processes_named(marker)
    for pid in survivors:  # clean up what escaped
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for folder in folders:
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(folder)], check=False)
    detail = f"{len(survivors)} processes alive, {len(folders)} folders left"
    return Outcome(gone and not folders, detail)


ATTACKS = [
    Attack("memory_children", "6 child processes x 900 MB", "cgroup", memory_children),
    Attack("disk_fill", "5 GB written to the scratch folder", "bwrap", disk_fill),
    Attack("nested_dirs", "32k nested folders", "", nested_dirs),
    Attack("sysv_shm", "a SysV shared memory segment left behind", "", sysv_shm),
    Attack("unix_socket", "a host Unix socket (as PostgreSQL's)", "", unix_socket),
    Attack("host_files", "host /tmp and the project folder read", "", host_files),
    Attack("user_namespace", "a new user namespace", "", user_namespace),
    Attack("syscall_filter", "ptrace of the driver, keyring, bpf, io_uring", "", syscall_filter),
    Attack("network", "127.0.0.1 of the host and the internet", "", network),
    Attack("fork_bomb", "a fork bomb and a setsid daemon", "cgroup", fork_bomb),
    Attack("environment", "API keys in the environment", "", environment),
    Attack("killed_grader", "kill -9 of the grading process", "", killed_grader),
]


async def run_attack(attack: Attack, project: Path) -> Outcome:
    if not _has(attack.needs):
        why = f"not run: {sandbox.isolation()} has no {attack.needs} (it would harm the host)"
        return Outcome(False, why, ran=False)
    return await attack.run(project)
