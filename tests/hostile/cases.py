"""The hostile battery: what untrusted code may try, and what each executor must do about it.

Each case: code, a check on the result, and where it applies. ``protects`` names the executors
that must hold (the test suite asserts those); elsewhere the case documents a known limit of
the threat model (see docs/security.md) and is not run when it would hurt the host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ALL = ("inprocess", "subprocess", "sandbox")
ISOLATED = ("subprocess", "sandbox")
SANDBOX = ("sandbox",)


@dataclass
class Case:
    name: str
    code: str
    check: Callable[[Any], bool]
    protects: tuple[str, ...]
    safe_on: tuple[str, ...] = ALL  # where running it cannot hurt the host
    timeout: float = 2.0
    setup: dict[str, str] = field(default_factory=dict)


def err(fragment: str) -> Callable[[Any], bool]:
    return lambda r: r.error is not None and fragment in r.error


def value_is(expected: Any) -> Callable[[Any], bool]:
    return lambda r: r.error is None and r.value == expected


# A child writes a result frame for every run id to every descriptor it inherited (the
# channel among them) while its parent's run waits; the run must still return its own value.
FORGE = """import json, os
frames = b''
for i in range(1, 400):
    body = json.dumps({'op': 'result', 'id': i, 'has_value': True, 'value': 'forged'}).encode()
    frames += len(body).to_bytes(4, 'big') + body
child = os.fork()
if child == 0:
    for fd in range(3, 64):
        try:
            os.write(fd, frames)
        except OSError:
            pass
    os._exit(0)
os.waitpid(child, 0)
'genuine'"""

CASES = [
    Case("infinite loop", "while True:\n    pass", err("timed out after"), ALL),
    Case("blocking C call", "import time\ntime.sleep(10**6)", err("timed out after"), ALL),
    Case(
        "memory bomb",
        "x = bytearray(8 * 1024 ** 3)",
        err("MemoryError"),
        ISOLATED,
        safe_on=ISOLATED,
    ),
    Case(
        "fork bomb",
        "import os\nwhile True:\n    os.fork()",
        lambda r: r.error is not None,
        SANDBOX,
        safe_on=SANDBOX,
    ),
    Case(
        "thread bomb",
        "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()",
        # The threads keep the worker's address space (or process limit): it is replaced.
        lambda r: r.error is not None and "a fresh worker was started" in r.error,
        ISOLATED,
        safe_on=ISOLATED,
    ),
    Case(
        "stdout flood",
        "for _ in range(200):\n    print('x' * 100_000)",
        lambda r: r.error is None and "[output truncated" in r.stdout and len(r.stdout) < 2_000_000,
        ALL,
    ),
    Case(
        "stderr flood",
        "import sys\nfor _ in range(200):\n    sys.stderr.write('y' * 100_000)",
        lambda r: "[output truncated" in r.stderr and len(r.stderr) < 2_200_000,
        ALL,
    ),
    Case(
        "huge value",
        "'z' * 200_000_000",
        lambda r: r.error is None and r.repr is not None and len(r.repr) < 200_000,
        ISOLATED,
        safe_on=ISOLATED,
        timeout=15.0,  # about the value's size, not speed: ~1 s of work, more on a busy machine
    ),
    Case(
        "os._exit", "import os\nos._exit(7)", err("worker process died"), ISOLATED, safe_on=ISOLATED
    ),
    Case(
        "SIGKILL itself",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        err("SIGKILL"),
        ISOLATED,
        safe_on=ISOLATED,
    ),
    Case(
        "segfault", "import ctypes\nctypes.string_at(0)", err("SIGSEGV"), ISOLATED, safe_on=ISOLATED
    ),
    Case(
        "garbage on the channel",
        "import os\nfor fd in range(3, 40):\n    try:\n        os.write(fd, b'\\xff\\xff\\xff\\xffgarbage')\n    except OSError:\n        pass\nimport time\ntime.sleep(1)",
        lambda r: r.error is not None,
        ISOLATED,
        safe_on=ISOLATED,
    ),
    Case(
        "kill the parent",
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nimport time\ntime.sleep(1)",
        lambda r: True,
        SANDBOX,
        safe_on=SANDBOX,
    ),
    Case(
        "host environment",
        "import os\nos.environ.get('PCM_HOSTILE_SECRET')",
        value_is(None),
        ISOLATED,
        setup={"PCM_HOSTILE_SECRET": "s3cret"},
    ),
    Case(
        "host environment via /proc",
        "import os\nfound = []\nfor pid in os.listdir('/proc'):\n    try:\n"
        "        if b's3cret' in open(f'/proc/{pid}/environ', 'rb').read():\n"
        "            found.append(pid)\n    except (OSError, ValueError):\n        pass\nfound",
        value_is([]),
        SANDBOX,
        setup={"PCM_HOSTILE_SECRET": "s3cret"},
    ),
    Case(
        "read /etc/shadow",
        "open('/etc/shadow').read()",
        lambda r: (
            r.error is not None
            and r.error.split(":")[0] in ("PermissionError", "FileNotFoundError")
        ),
        SANDBOX,
    ),
    Case(
        "list /root",
        "import os\n[p for p in os.listdir('/root') if not p.startswith('.pyenv')]",
        lambda r: r.error is not None or r.value == [],
        SANDBOX,
    ),
    Case(
        "read a file outside the allow-list",
        "open(OUTSIDE_FILE).read()",
        lambda r: r.error is not None,
        SANDBOX,
    ),
    Case(
        "connect to host unix sockets",
        "import socket\nreached = []\nfor address in UNIX_SOCKETS:\n"
        "    s = socket.socket(socket.AF_UNIX)\n    try:\n        s.connect(address)\n"
        "        reached.append(address)\n    except OSError:\n        pass\n"
        "    finally:\n        s.close()\nreached",
        value_is([]),
        SANDBOX,
    ),
    Case(
        "read the storage folder",
        "open(STORAGE + '/artifacts/.artifacts.json').read()",
        lambda r: r.error is not None,
        SANDBOX,
    ),
    Case(
        "write outside the workspace",
        "open('/usr/local/pwned', 'w').write('x')",
        lambda r: r.error is not None,
        SANDBOX,
    ),
    Case(
        "write another skill's file",
        "open(STORAGE + '/skills/victim.py', 'w').write('def run(): return 666')",
        lambda r: r.error is not None,
        SANDBOX,
    ),
    Case(
        "network connection",
        "import socket\nsocket.create_connection(('127.0.0.1', PORT), timeout=2)",
        lambda r: r.error is not None,
        SANDBOX,
    ),
    Case(
        "delete the namespaces",
        "del tools, skills, artifacts, deps",
        lambda r: r.error is None,
        ALL,
    ),
    Case("replace the namespaces", "artifacts = skills = None", lambda r: r.error is None, ALL),
    Case(
        "nested value bomb",
        "x = []\nfor _ in range(100_000):\n    x = [x]\nx",
        lambda r: r.error is None and r.value is None,
        ISOLATED,
    ),
    Case(
        "deps.add of a source-only package",
        "deps.add('pcm_hostile_sdist')",
        err("DependencyError"),  # and, checked after every case: nothing built on the host
        ISOLATED,
        timeout=120.0,
    ),
    Case(
        "huge search query",
        "skills.search('word ' * 400_000)",
        lambda r: r.error is not None and "skills.search" in r.error and "limit" in r.error,
        ISOLATED,
    ),
    Case(
        "value of 7 million items",
        "[{}] * 7_000_000",
        lambda r: r.error is None and r.value is None and "7,000,001 values" in r.stderr,
        ISOLATED,
        safe_on=ISOLATED,
        timeout=30.0,  # building and encoding the list in the worker: ~2 s of work
    ),
    Case(
        "forged result from a forked child",
        FORGE,
        value_is("genuine"),
        ISOLATED,
        safe_on=ISOLATED,
        timeout=10.0,
    ),
    Case("recursion to the limit", "def f():\n    return f()\nf()", err("RecursionError"), ALL),
]

CASES.append(
    Case(
        "forbidden system calls",
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nout = []\n"
        "for n in (101, 165, 272, 321, 323):  # ptrace, mount, unshare, bpf, userfaultfd\n"
        "    out.append((libc.syscall(n, 0, 0, 0, 0, 0), ctypes.get_errno()))\nout",
        value_is([(-1, 1)] * 5),
        SANDBOX,
        safe_on=ISOLATED,
    )
)
