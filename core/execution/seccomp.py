"""A seccomp filter for sandboxed workers, as a classic BPF program bubblewrap loads (--seccomp).

Written with the stdlib (no libseccomp): it checks the architecture, then answers EPERM to
system calls a Python worker never needs — tracing other processes, mounting, new namespaces,
loading kernel code, keyrings, bpf, userfaultfd, perf events, clock and host changes — and
allows everything else. Only x86_64 is described; elsewhere no filter is built (and the
executor says so in its capabilities).
"""

from __future__ import annotations

import platform
import struct

# struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }
_INSN = struct.Struct("=HBBI")
BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
BPF_RET_K = 0x06  # BPF_RET | BPF_K
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_KILL_PROCESS = 0x80000000
EPERM = 1
AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

#: x86_64 system call numbers refused with EPERM.
BLOCKED_X86_64: dict[str, int] = {
    "ptrace": 101, "syslog": 103, "personality": 135, "vhangup": 153, "pivot_root": 155,
    "chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166,
    "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170, "setdomainname": 171,
    "iopl": 172, "ioperm": 173, "init_module": 175, "delete_module": 176, "quotactl": 179,
    "lookup_dcookie": 212, "clock_settime": 227, "kexec_load": 246, "add_key": 248,
    "request_key": 249, "keyctl": 250, "unshare": 272, "move_pages": 279,
    "perf_event_open": 298, "name_to_handle_at": 303, "open_by_handle_at": 304,
    "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311, "finit_module": 313,
    "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
}  # fmt: skip


def supported() -> bool:
    return platform.machine() in ("x86_64", "AMD64")


def build_filter(blocked: dict[str, int] | None = None) -> bytes:
    """The BPF program: wrong architecture or x32 → kill; a blocked call → EPERM; else allow."""
    if not supported():
        raise RuntimeError(f"no seccomp filter is described for {platform.machine()}")
    numbers = sorted(set((blocked or BLOCKED_X86_64).values()))
    program = [
        (BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        (BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    # x32 ABI calls (nr | 0x40000000) would slip past the numbers below: refuse them all.
    program.append((0x35, 0, 1, X32_SYSCALL_BIT))  # BPF_JMP | BPF_JGE | BPF_K
    program.append((BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM))
    for index, number in enumerate(numbers):
        remaining = len(numbers) - index - 1
        # Match: jump over the remaining checks and the ALLOW to the EPERM return.
        program.append((BPF_JEQ_K, remaining + 1, 0, number))
    program.append((BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    program.append((BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM))
    return b"".join(_INSN.pack(*insn) for insn in program)
