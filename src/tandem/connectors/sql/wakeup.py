"""``wait_for_change``: PostgreSQL LISTEN/NOTIFY, elsewhere a cheap poll of the change log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tandem.connectors.sql import faults

if TYPE_CHECKING:  # psycopg is the optional PostgreSQL extra: imported only when listening
    import psycopg


_DRAIN_ROUNDS = 1000
"""Most reads of already received notifications after a wake-up (each takes what one socket
read holds)."""


class Listener:
    """A psycopg 3 async connection LISTENing on the capture triggers' channel.

    Opened before the first read so that a change made between a read and the next wait is
    still delivered: the server queues notifications for a listening session.
    """

    def __init__(
        self, url: sa.URL, channel: str, secrets: tuple[str, ...], connect_timeout: int = 10
    ) -> None:
        self._url = url
        self._connect_timeout = connect_timeout
        self._channel = channel
        self._secrets = secrets
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lost = False
        """The listening connection was lost since the last wait: notifications sent
        meanwhile reached no one."""

    async def start(self) -> None:
        """Connect and LISTEN; raises a Tandem error when the server refuses."""
        import psycopg

        args: dict[str, Any] = dict(self._url.query)
        args.update(self._url.translate_connect_args(username="user", database="dbname"))
        args.setdefault("connect_timeout", self._connect_timeout)
        try:
            conn = await psycopg.AsyncConnection.connect(autocommit=True, **args)
            await conn.execute(f'LISTEN "{self._channel}"')
        except psycopg.Error as exc:
            raise faults.translate(exc, operation="listen", secrets=self._secrets) from None
        self._conn = conn

    async def wait(self, seconds: float) -> bool:
        """True when a notification arrives within ``seconds``.

        Also True at once when the listening connection had been lost (terminated, the server
        restarted) and is back: a change made meanwhile signalled no one, so the caller must
        read. A connection found lost is reconnected at once; if that fails the error is
        raised and the next wait tries again.
        """
        import psycopg

        if self._conn is None or self._conn.closed:
            self._lost = self._lost or self._conn is not None
            await self._reconnect()
        if self._lost:
            self._lost = False
            return True
        conn = self._conn
        assert conn is not None
        try:
            # The generator holds the connection's lock until it ends: drained after it.
            woke = [n async for n in conn.notifies(timeout=seconds, stop_after=1)]
            if woke:
                await self._drain(conn)
        except psycopg.OperationalError:
            self._lost = True
            await self._reconnect()
            self._lost = False
            return True
        return bool(woke)

    async def _reconnect(self) -> None:
        """Close what is left of the connection and listen again; on failure the connection
        stays lost (:attr:`_lost`) and the error is raised."""
        await self.close()
        await self.start()

    async def _drain(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Consume the notifications already received: the read that follows a wake-up sees
        what they announce, so they must not wake the next waits again (a burst of many
        small transactions would otherwise wake one wait per transaction). Bounded, so that
        a steady stream cannot hold the wake-up back.

        A round trip comes first: the server sends a session every notification it holds for
        it before it answers a query, so those of every transaction committed before the
        wake-up are then received (psycopg keeps them for the next ``notifies()``), not
        still on their way when the drain finds the socket empty."""
        await conn.execute("SELECT 1")
        for _ in range(_DRAIN_ROUNDS):
            if not [n async for n in conn.notifies(timeout=0)]:
                return

    async def close(self) -> None:
        """Close the listening connection; safe to call twice."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()


def moved(last: Any, now: Any) -> bool:
    """Whether a probe value moved; for per-table maxima only tables seen both times count."""
    if isinstance(last, dict) and isinstance(now, dict):
        return any(k in last and last[k] != v for k, v in now.items())
    return bool(last != now)


async def poll_until_moved(
    probe: Callable[[], Any], last: Any, seconds: float, every: float
) -> tuple[bool, Any]:
    """Call ``probe`` in a thread every ``every`` seconds until its value differs from ``last``
    or ``seconds`` pass.

    Returns:
        Whether it moved in time, and the value seen last.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        now = await asyncio.to_thread(probe)
        if moved(last, now):
            return True, now
        last = now
        left = deadline - loop.time()
        if left <= 0:
            return False, now
        await asyncio.sleep(min(every, left))
