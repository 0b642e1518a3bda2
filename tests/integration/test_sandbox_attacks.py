"""The attack suite (graders/sandbox_attacks.py), each attack with its host-side pass criterion:

- memory_children: 6 processes x 900 MB -> the run's peak (cgroup) stays within its memory bound;
- disk_fill: 5 GB written to scratch -> at most the tmpfs size is written, host disk untouched;
- nested_dirs: 32k nested folders -> the run ends and no folder of it is left;
- sysv_shm: a SysV segment created and left -> none left on the host afterwards (/proc/sysvipc);
- unix_socket: a Unix socket server the test creates in a host folder (PostgreSQL's socket name),
  and /var/run/postgresql -> not reachable, the server sees no connection;
- host_files: canary files in host /tmp and in the project folder -> not readable;
- user_namespace: unshare(CLONE_NEWUSER) -> refused;
- syscall_filter: ptrace and process_vm_readv of the parent, keyctl, bpf, io_uring -> refused
  (seccomp, x86_64);
- network: a 127.0.0.1 server of the host and the internet -> not reachable;
- fork_bomb: a fork bomb and a setsid daemon -> nothing of them alive after the run;
- environment: secret-looking variables -> not visible;
- killed_grader: kill -9 of the grading process mid-run -> nothing alive, no folder left.

Attacks whose containment needs bubblewrap (or a writable cgroup) skip with the reason where the
machine does not offer it; on CI and this machine (root, `make system-deps`) they all run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from graders import sandbox, sandbox_seccomp
from graders.sandbox_attacks import ATTACKS, Attack, run_attack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CONTAINED_WITHOUT_BWRAP = {"nested_dirs", "environment"}


@pytest.fixture(autouse=True)
def two_workers() -> None:
    sandbox.set_workers(2)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
async def test_attack_is_contained(attack: Attack) -> None:
    label = sandbox.isolation()
    if not label.startswith("bwrap") and attack.name not in CONTAINED_WITHOUT_BWRAP:
        pytest.skip(f"bwrap unusable here ({'; '.join(sandbox.isolation_notes())})")
    if attack.needs == "cgroup" and "cgroup" not in label:
        pytest.skip(f"no writable cgroup here (isolation={label})")
    if attack.name == "syscall_filter" and "seccomp" not in label:
        pytest.skip(f"no seccomp filter here ({'; '.join(sandbox.isolation_notes())})")
    outcome = await run_attack(attack, REPO)
    assert outcome.ran and outcome.contained, f"{attack.name}: {outcome.detail}"


def test_this_machine_has_the_full_sandbox_when_root_with_bwrap() -> None:
    """On CI and this machine (root, bubblewrap installed) nothing may silently fall back."""
    if os.geteuid() != 0 or not shutil.which("bwrap"):
        pytest.skip("not root with bwrap installed: a fallback is allowed here")
    assert sandbox.isolation().startswith("bwrap"), sandbox.isolation_notes()
    if sandbox_seccomp.supported():
        assert "seccomp" in sandbox.isolation(), sandbox.isolation_notes()
