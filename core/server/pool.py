"""One Session per ``X-Session-ID``: created on first use, closed when idle too long.

All bookkeeping happens on the server's event loop without awaiting between a check and the
change it guards, so no lock is needed: two requests racing for one new id get one Session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, SessionCapacityError, SessionExpiredError

log = logging.getLogger(__name__)

_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
#: How many evicted ids are remembered (to answer "expired" rather than start afresh silently).
_REMEMBERED = 100_000


def valid_session_id(session_id: str) -> str:
    """``session_id`` if it is 1-128 characters of ``A-Z a-z 0-9 . _ : -``; else an error."""
    if not _ID_RE.match(session_id):
        raise ConfigurationError(
            "X-Session-ID must be 1-128 characters of letters, digits, '.', '_', ':' or '-'"
        )
    return session_id


@dataclass
class _Entry:
    session: Any
    last_used: float
    busy: int = 0
    created: float = field(default_factory=time.monotonic)


class SessionPool:
    """The Sessions of one server, by id.

    ``factory()`` builds a Session (through ``create_session``); each has its own worker.
    Sessions idle longer than ``idle_timeout`` seconds are closed by :meth:`evict_idle`
    (never one serving a request). A request for an evicted id fails once with
    :class:`SessionExpiredError`; after that the id starts a fresh session.
    """

    def __init__(
        self,
        factory: Callable[[], Any],
        *,
        max_sessions: int,
        idle_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._expired: OrderedDict[str, float] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._entries

    @contextlib.asynccontextmanager
    async def use(
        self, session_id: str | None, *, create: bool = True
    ) -> AsyncIterator[tuple[str, Any]]:
        """``(id, session)`` for one request; the session is not evicted while in use.

        Without an id a new one is made. ``create=False`` yields ``(id, None)`` for an id
        that has no session instead of creating one."""
        sid, entry = self._acquire(session_id, create)
        if entry is None:
            yield sid, None
            return
        entry.busy += 1
        try:
            yield sid, entry.session
        finally:
            entry.busy -= 1
            entry.last_used = self._clock()

    def _acquire(self, session_id: str | None, create: bool) -> tuple[str, _Entry | None]:
        sid = uuid.uuid4().hex if session_id is None else valid_session_id(session_id)
        entry = self._entries.get(sid)
        if entry is not None:
            entry.last_used = self._clock()
            return sid, entry
        evicted_at = self._expired.pop(sid, None)
        if evicted_at is not None:
            raise SessionExpiredError(
                f"session {sid!r} expired: it was idle for more than {self.idle_timeout:g} s and "
                "was closed, so its variables are gone (skills and artifacts are kept); the next "
                "request with this id starts a fresh session",
                status_code=410,
            )
        if not create:
            return sid, None
        if len(self._entries) >= self.max_sessions:
            self.evict_idle()
        if len(self._entries) >= self.max_sessions:
            raise SessionCapacityError(
                f"this server already holds its maximum of {self.max_sessions} sessions; retry "
                "later, close idle sessions (DELETE /session) or raise --max-sessions",
                status_code=503,
            )
        entry = _Entry(self._factory(), self._clock())
        self._entries[sid] = entry
        return sid, entry

    def evict_idle(self) -> int:
        """Close the sessions unused for longer than ``idle_timeout``; how many were closed."""
        limit = self._clock() - self.idle_timeout
        idle = [sid for sid, e in self._entries.items() if e.busy == 0 and e.last_used < limit]
        for sid in idle:
            self._drop(sid, remember=True)
        if idle:
            log.info("closed %d idle session(s)", len(idle))
        return len(idle)

    def discard(self, session_id: str) -> bool:
        """Close one session now (its id is free again); False if there was none."""
        if session_id not in self._entries:
            return False
        self._drop(session_id, remember=False)
        return True

    def _drop(self, sid: str, *, remember: bool) -> None:
        entry = self._entries.pop(sid)
        if remember:
            self._expired[sid] = self._clock()
            while len(self._expired) > _REMEMBERED:
                self._expired.popitem(last=False)
        task = asyncio.get_running_loop().create_task(self._close(sid, entry.session))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close(sid: str, session: Any) -> None:
        try:
            async with asyncio.timeout(30):
                await session.close()
        except Exception as exc:  # a session that will not close must not stop the others
            log.warning("closing session %s failed: %r", sid, exc)

    async def sweep(self, interval: float | None = None) -> None:
        """Evict idle sessions forever, every ``interval`` seconds (run as a task)."""
        every = interval or max(0.05, min(self.idle_timeout / 4, 30.0))
        while True:
            await asyncio.sleep(every)
            self.evict_idle()

    async def close(self) -> None:
        """Close every session (server shutdown)."""
        for sid in list(self._entries):
            self._drop(sid, remember=False)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
