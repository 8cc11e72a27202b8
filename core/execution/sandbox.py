"""SandboxExecutor: the subprocess worker inside bubblewrap, for untrusted code.

The sandbox's file system is built from an allow-list, not from the host's root minus a hide
list: the system's program and library folders (``/usr`` and its ``/bin``, ``/lib*`` links),
a few configuration files from ``/etc``, the worker's interpreter and its packages, the worker
module, the deps overlay, then a private ``/tmp``, ``/dev`` and ``/proc`` and a private writable
workspace (``/tmp/workspace``). Nothing else of the host exists inside: no home folders, no
storage folders, no ``/run`` or ``/var`` (so no host socket), no other files of the user.

bubblewrap itself starts with the worker's allow-listed environment (the sandbox's pid 1 shows
its own environment in ``/proc/1/environ``). The worker gets its own PID, IPC, UTS and network
namespaces (no network unless ``network=True``) and dies with its host. When the host runs as
root, the worker drops to an unprivileged uid/gid of its own (one per executor, so kernel
limits such as RLIMIT_NPROC are per session); otherwise it runs in a user namespace of its own.

Without bubblewrap (or without the kernel features it needs) the executor refuses to start
with an error that says how to fix it; it never falls back to running unsandboxed.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import WorkerError
from . import seccomp
from .protocol import Capability
from .subprocess_executor import WORKER_PATH, SubprocessConfig, SubprocessExecutor, WorkerProcess

WORKSPACE = "/tmp/workspace"
_INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and make sure the kernel "
    "allows mount and PID namespaces (and, for a host that is not root, unprivileged user "
    "namespaces; in a container: run it with --privileged or --security-opt seccomp=unconfined)"
)
#: System folders exposed read-only (as the symbolic links they are on merged-/usr systems).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Files of /etc a Python process reads: the dynamic linker, time zone, name service, TLS
#: roots, MIME types. Not passwd, shadow, group, nor anything holding credentials.
ETC_PATHS = (
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
    "/etc/timezone", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/services",
    "/etc/protocols", "/etc/mime.types", "/etc/ssl", "/etc/ca-certificates",
    "/etc/ca-certificates.conf", "/etc/pki", "/etc/crypto-policies", "/etc/alternatives",
    "/etc/os-release", "/etc/fonts",
)  # fmt: skip
#: Added when the sandbox has network: how names are resolved.
NETWORK_ETC_PATHS = ("/etc/resolv.conf", "/etc/hosts")


@dataclass(frozen=True)
class SandboxConfig(SubprocessConfig):
    """A SubprocessConfig plus the sandbox's own settings.

    ``env_allow``: host environment variables the worker keeps (``LC_*`` style patterns);
    ``ro_paths``: more host paths to expose read-only (data, models, fonts); ``hide``: paths
    masked with an empty folder wherever an exposed path would show them (the storage folder
    always is).
    """

    network: bool = False
    uid: int | None = None  # None: a fresh unprivileged uid when the host is root
    gid: int | None = None
    env_allow: tuple[str, ...] = (
        "PATH", "LANG", "LANGUAGE", "LC_*", "TZ", "PYTHONUTF8", "PYTHONIOENCODING",
        "PYTHONHASHSEED", "PYTHONWARNINGS",
    )  # fmt: skip
    hide: tuple[str, ...] = ("/root", "/home", "/srv", "/var/lib", "/run/secrets")
    ro_paths: tuple[str, ...] = ()
    max_processes: int | None = 256
    seccomp: bool = True  # refuse ptrace, mount, namespaces, kernel modules, bpf, ... (x86_64)


_PATHS_PROBE = (
    "import json, sys, sysconfig\n"
    "print(json.dumps([[sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix],"
    " [*sysconfig.get_paths().values(), *sys.path]]))"
)


@functools.lru_cache(maxsize=16)
def _interpreter_paths(python: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(prefixes, library paths) of an interpreter: what it needs to start and import."""
    if python == sys.executable:
        prefixes = (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
        return prefixes, (*sysconfig.get_paths().values(), *sys.path)
    try:
        out = subprocess.run(
            [python, "-P", "-c", _PATHS_PROBE], capture_output=True, text=True, timeout=30
        )
        prefixes, paths = json.loads(out.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise WorkerError(f"cannot ask {python} where its libraries are: {exc}") from exc
    return tuple(prefixes), tuple(paths)


@functools.lru_cache(maxsize=1)
def _bwrap_options() -> frozenset[str]:
    """The long options this bubblewrap knows (newer ones harden the sandbox further)."""
    binary = shutil.which("bwrap")
    if binary is None:
        return frozenset()
    try:
        text = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=15).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(w for w in text.split() if w.startswith("--"))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _symlinks_on_the_way(path: str) -> list[tuple[str, str]]:
    """The symbolic links met while resolving ``path``, as (link, target), in order."""
    links: list[tuple[str, str]] = []
    current, todo = "/", list(Path(path).parts[1:])
    while todo and len(links) < 40:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        if os.path.islink(candidate):
            target = os.readlink(candidate)
            links.append((candidate, target))
            resolved = os.path.normpath(os.path.join(current, target))
            current, todo = "/", [*Path(resolved).parts[1:], *todo]
        else:
            current = candidate
    return links


def _allowed_env(names: tuple[str, ...]) -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if any(fnmatch.fnmatchcase(key, pattern) for pattern in names)
    }


class SandboxExecutor(SubprocessExecutor):
    """Runs code in a bubblewrap sandbox (same frames and host channel as SubprocessExecutor)."""

    config_class: type[SubprocessConfig] = SandboxConfig

    def __init__(
        self, config: SubprocessConfig | None = None, *, registry: Any = None, sandbox: bool = True
    ) -> None:
        if config is not None and not isinstance(config, SandboxConfig):
            # SubprocessExecutor(config, sandbox=True): keep every setting, add the sandbox's.
            from dataclasses import fields

            config = SandboxConfig(
                **{f.name: getattr(config, f.name) for f in fields(SubprocessConfig)}
            )
        super().__init__(config or SandboxConfig(), registry=registry)
        self.config: SandboxConfig
        self._workspace: Path | None = None
        self._private: Path | None = None  # the sandbox's own /etc/passwd, /etc/group, ...
        self._storage_root: Path | None = None
        self._seccomp_fd: int | None = None
        self._spawn_lock = asyncio.Lock()
        self._filter = (
            seccomp.build_filter() if self.config.seccomp and seccomp.supported() else b""
        )
        # One unprivileged uid per executor when the host is root: its workers share the
        # workspace, and no other session's processes count against its process limit.
        as_root = os.geteuid() == 0
        uid = (
            self.config.uid
            if self.config.uid is not None
            else (random.randint(200_000, 260_000) if as_root else None)
        )
        gid = self.config.gid if self.config.gid is not None else uid
        self.uid, self.gid = uid, gid

    @staticmethod
    def check() -> str | None:
        """None when sandboxes can start here, else what is missing."""
        binary = shutil.which("bwrap")
        if binary is None:
            return f"bubblewrap (bwrap) is not installed: {_INSTALL_HINT}"
        probe = [binary, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-pid",
                 "--unshare-net", "--die-with-parent", "true"]  # fmt: skip
        if os.geteuid() != 0:
            probe[1:1] = ["--unshare-user"]
        try:
            result = subprocess.run(probe, capture_output=True, text=True, timeout=15)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bubblewrap could not run: {exc}; {_INSTALL_HINT}"
        if result.returncode != 0:
            return f"bubblewrap cannot create a sandbox here ({result.stderr.strip()}); {_INSTALL_HINT}"
        if os.geteuid() == 0 and shutil.which("setpriv") is None:
            return "setpriv (util-linux) is needed to drop root inside the sandbox"
        return None

    async def start(self, storage: Any = None) -> None:
        if self._started:
            return
        problem = self.check()
        if problem is not None:
            raise WorkerError(f"SandboxExecutor cannot start: {problem}")
        root = getattr(storage, "root", None)
        self._storage_root = Path(root).resolve() if root is not None else None
        self._workspace = Path(tempfile.mkdtemp(prefix="py-code-mode-sandbox-"))
        self._private = Path(tempfile.mkdtemp(prefix="py-code-mode-sandbox-etc-"))
        self._private.chmod(0o755)
        if self.uid is not None and os.geteuid() == 0:
            os.chown(self._workspace, self.uid, self.gid if self.gid is not None else self.uid)
        self._write_private_etc()
        await super().start(storage)

    async def close(self) -> None:
        await super().close()
        for folder in (self._workspace, self._private):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def supported_capabilities(self) -> set[str]:
        caps = super().supported_capabilities() | {Capability.FILESYSTEM_ISOLATION}
        if not self.config.network:
            caps.add(Capability.NETWORK_ISOLATION)
        return caps

    def _write_private_etc(self) -> None:
        """passwd, group and hosts for the sandbox: its own user, and ``localhost``."""
        assert self._private is not None
        uid = self.uid if self.uid is not None else os.getuid()
        gid = self.gid if self.gid is not None else (uid if self.uid is not None else os.getgid())
        files = {
            "passwd": f"root:x:0:0:root:/:/usr/sbin/nologin\n"
            f"sandbox:x:{uid}:{gid}:sandbox:{WORKSPACE}:/usr/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            "group": f"root:x:0:\nsandbox:x:{gid}:\nnogroup:x:65534:\n",
            "hosts": "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
        }
        for name, text in files.items():
            path = self._private / name
            path.write_text(text)
            path.chmod(0o644)

    def _exposed_paths(self) -> list[str]:
        """The allow-list: every host path the sandbox shows (read-only), as given."""
        prefixes, libraries = _interpreter_paths(self.config.resolve_python())
        paths = [*SYSTEM_PATHS, *ETC_PATHS, *prefixes]
        if self.config.network:
            paths += NETWORK_ETC_PATHS
        # Package folders of the interpreter (site-packages, dist-packages); not the rest of its
        # sys.path, which may hold the current directory or a private checkout.
        paths += [
            p for p in libraries if p and ("-packages" in p or any(_inside(p, x) for x in prefixes))
        ]
        paths.append(str(WORKER_PATH.parent.parent))  # the package that holds the worker
        paths += self._overlay()
        paths += [*self.config.extra_sys_path, *self.config.ro_paths]
        return [os.path.abspath(p) for p in dict.fromkeys(paths) if os.path.lexists(p)]

    def _filesystem_argv(self) -> list[str]:
        """bwrap's mount operations: the allow-list over an empty root, parents first."""
        binds: set[str] = set()
        links: dict[str, str] = {}
        for path in self._exposed_paths():
            for link, target in _symlinks_on_the_way(path):
                links.setdefault(link, target)
            real = os.path.realpath(path)
            if os.path.exists(real):
                binds.add(real)
        hidden = {os.path.realpath(h) for h in self.config.hide if os.path.isdir(h)}
        if self._storage_root is not None:
            hidden.add(str(self._storage_root))
        # A hidden folder inside an exposed one is masked; exposed paths inside it come back.
        masks = {h for h in hidden if any(_inside(h, b) and h != b for b in binds)}
        kept = sorted(
            b
            for b in binds
            if not any(
                _inside(b, o) and b != o and not any(_inside(b, m) and _inside(m, o) for m in masks)
                for o in binds
            )
        )
        assert self._private is not None
        private = [(str(self._private / n), f"/etc/{n}") for n in ("passwd", "group", "hosts")]
        if self.config.network:
            private.pop()  # the host's own /etc/hosts is exposed instead
        visible = [
            link for link in links if not any(_inside(link, b) for b in kept)
        ]  # links (merged /usr, venv interpreters, /etc/localtime) no bind already shows

        def exists_already(path: str) -> bool:
            inside = [b for b in kept if _inside(path, b)]
            return bool(inside) and not any(_inside(path, m) for m in masks)

        # bwrap would create missing parents as 0700 (unreadable for the sandbox's uid when the
        # host is root): create them as 0755 first.
        parents = {
            str(parent)
            for path in [*kept, *visible, *(dest for _, dest in private)]
            for parent in Path(path).parents
            if str(parent) not in ("/", "/tmp") and not exists_already(str(parent))
        }
        ops = [(p.count("/"), 0, ["--perms", "0755", "--dir", p]) for p in parents]
        ops += [(m.count("/"), 1, ["--tmpfs", m]) for m in [*masks, "/tmp"]]
        ops += [(b.count("/"), 2, ["--ro-bind", b, b]) for b in kept]
        argv: list[str] = []
        for _depth, _order, op in sorted(ops):
            argv += op
        for link in sorted(visible):
            argv += ["--symlink", links[link], link]
        for source, dest in private:
            argv += ["--ro-bind", source, dest]
        return argv

    def _worker_env(self) -> dict[str, str]:
        """The worker's environment, which is also bubblewrap's own: the sandbox's pid 1 shows
        its environment to the code (``/proc/1/environ``), so nothing else may be in it."""
        env = _allowed_env(self.config.env_allow)
        env.update({"HOME": WORKSPACE, "TMPDIR": WORKSPACE, "PYTHONDONTWRITEBYTECODE": "1",
                    "USER": "sandbox", "LOGNAME": "sandbox"})  # fmt: skip
        if self.config.memory_limit_mb:
            env["MALLOC_ARENA_MAX"] = "2"
        env.update(self.config.env or {})
        return env

    def _worker_argv(self) -> list[str]:
        inner = super()._worker_argv()
        bwrap = shutil.which("bwrap") or "bwrap"
        as_root = os.geteuid() == 0
        argv = [bwrap]
        if not as_root:  # the user's own uid, mapped in a user namespace of the sandbox's own
            argv.append("--unshare-user")
            if "--disable-userns" in _bwrap_options():
                argv.append("--disable-userns")  # and no nested one
        argv += self._filesystem_argv()
        # A private /dev with a writable /dev/shm (POSIX semaphores: multiprocessing locks).
        argv += ["--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm", "--proc", "/proc"]
        argv += ["--bind", str(self._workspace), WORKSPACE, "--chdir", WORKSPACE]
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        if not self.config.network:
            argv.append("--unshare-net")
        argv += ["--die-with-parent", "--new-session"]
        if self._seccomp_fd is not None:
            argv += ["--seccomp", str(self._seccomp_fd)]
        argv.append("--")
        if self.uid is not None and as_root:
            setpriv = shutil.which("setpriv") or "setpriv"
            gid = self.gid if self.gid is not None else self.uid
            argv += [setpriv, f"--reuid={self.uid}", f"--regid={gid}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]  # fmt: skip
        return argv + inner

    def _forks(self) -> bool:
        # Never from the host's template: a worker forked there would share the template's
        # namespaces and uid with every other session. A template inside each session's
        # bwrap would cost an interpreter per session, as the warm spare does (see
        # docs/ARCHITECTURE.md), so the sandbox keeps spawning its workers.
        return False

    def _pass_fds(self) -> tuple[int, ...]:
        return (self._seccomp_fd,) if self._seccomp_fd is not None else ()

    async def _spawn(self) -> WorkerProcess:
        async with self._spawn_lock:
            # bwrap reads the filter from an inherited descriptor, once per sandbox.
            if self.config.seccomp and seccomp.supported():
                read_end, write_end = os.pipe()
                os.write(write_end, self._filter)
                os.close(write_end)
                self._seccomp_fd = read_end
            try:
                worker = await super()._spawn()
            finally:
                if self._seccomp_fd is not None:
                    os.close(self._seccomp_fd)
                    self._seccomp_fd = None
        # SIGINT must reach the Python worker itself, not bwrap: its host pid is the one the
        # kernel stamped on its ready frame (the channel's pinned writer).
        worker.signal_pid = worker.peer_pid
        return worker
