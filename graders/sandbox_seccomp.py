"""A small seccomp filter for the bwrap sandbox (x86_64 only), compiled here to classic BPF.

bwrap installs it (`--seccomp FD`) just before it execs the program. It allows everything a
program needs and refuses (EPERM) what only an escape or an attack on the trusted driver needs:
tracing and reading other processes (ptrace, process_vm_readv/writev), the kernel keyring, bpf,
perf events, userfaultfd, io_uring, mounting and pivoting, namespaces (unshare, setns, clone with a
CLONE_NEW* flag), kernel modules, kexec, swap, reboot, the kernel log, file handles. clone3 gets
ENOSYS (its flags sit in memory a filter cannot read), so the C library falls back to clone, whose
flags are checked. Syscalls of any other ABI (i386, x32) are refused outright.
"""

from __future__ import annotations

import os
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_BIT = 0x40000000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM, ENOSYS = 1, 38
CLONE = 56
CLONE3 = 435
CLONE_NAMESPACES = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET

DENIED = {  # x86_64 numbers
    "ptrace": 101, "syslog": 103, "pivot_root": 155, "chroot": 161, "acct": 163, "mount": 165,
    "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "init_module": 175,
    "delete_module": 176, "quotactl": 179, "lookup_dcookie": 212, "kexec_load": 246,
    "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320, "bpf": 321,
    "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442,
}  # fmt: skip

# classic BPF opcodes
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
RET_K = 0x06  # BPF_RET | BPF_K


def supported() -> bool:
    return platform.machine() == "x86_64"


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program() -> bytes:
    """The filter as a sock_filter array (what bwrap --seccomp reads)."""
    deny = SECCOMP_RET_ERRNO | EPERM
    body = [
        (LD_W_ABS, 0, 0, 4),  # arch
        (JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (RET_K, 0, 0, deny),
        (LD_W_ABS, 0, 0, 0),  # syscall number
        (JGE_K, 0, 1, X32_BIT),
        (RET_K, 0, 0, deny),
        (JEQ_K, 0, 1, CLONE3),
        (RET_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS),
        (JEQ_K, 0, 3, CLONE),
        (LD_W_ABS, 0, 0, 16),  # clone's flags (args[0], low half)
        (JSET_K, 0, 1, CLONE_NAMESPACES),
        (RET_K, 0, 0, deny),
    ]
    # After the clone check the accumulator may hold the flags: reload the number first.
    body.append((LD_W_ABS, 0, 0, 0))
    numbers = sorted(DENIED.values())
    for i, nr in enumerate(numbers):
        to_deny = len(numbers) - i  # instructions from the next one to the deny return
        body.append((JEQ_K, to_deny, 0, nr))
    body.append((RET_K, 0, 0, SECCOMP_RET_ALLOW))
    body.append((RET_K, 0, 0, deny))
    return b"".join(_insn(*ins) for ins in body)


def program_fd() -> int:
    """A memfd holding the program, at offset 0 (the caller closes it)."""
    fd = os.memfd_create("avp-seccomp")  # close-on-exec, passed by pass_fds
    os.write(fd, program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
