"""The claim on a flow: one engine at a time writes for it.

The claim is a lease in the state store, renewed every third of its length while the engine
works or waits. A holder of this host whose process has ended is taken over at once; one still
running (or on another host) keeps the flow until its lease expires.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from typing import TypeVar

from tandem.errors import StoreBusy, StoreError
from tandem.store import StateStore

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0
"""How long a claim on a flow lasts unless renewed (renewed every third of that)."""
RENEW_RETRY_SECONDS = 5.0
"""How soon a renewal of the claim that found the state store busy is tried again (the claim
still has two thirds of its time to run)."""

T = TypeVar("T")


class FlowClaim:
    """This engine's claim on one flow.

    Attributes:
        holder: who this engine is, in the flow's lease (``host:pid:id``).
    """

    def __init__(self, store: StateStore, flow: str) -> None:
        self.store = store
        self.flow = flow
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._claimed_at: float | None = None

    @property
    def name(self) -> str:
        """The lease that makes this engine the only one writing for its flow."""
        return f"flow:{self.flow}"

    @property
    def held(self) -> bool:
        """Whether this engine claimed the flow (and has not given it up)."""
        return self._claimed_at is not None

    def claim(self) -> None:
        """Become the one engine that syncs this flow (renewing the claim if held).

        Raises:
            StoreError: another engine holds the flow; it names who and until when.
        """
        lease = self.store.acquire_lease(self.name, self.holder, LEASE_SECONDS)
        if lease.holder != self.holder and _gone(lease.holder):
            log.warning(
                "taking over flow %s from %s, which is no longer running", self.flow, lease.holder
            )
            lease = self.store.acquire_lease(
                self.name, self.holder, LEASE_SECONDS, replace=lease.holder
            )
        if lease.holder != self.holder:
            raise StoreError(
                f"flow {self.flow!r} is being synced by {lease.holder} "
                f"(its claim runs until {lease.expires_at:%Y-%m-%d %H:%M:%S} UTC unless renewed); "
                "stop that process or wait for its claim to expire"
            )
        self._claimed_at = time.monotonic()

    def release(self) -> None:
        """Give the flow up, if this engine claimed it.

        A store that cannot take the release now (locked by another process, unreachable) is
        logged, not raised: the claim expires by itself, and an error it would raise would hide
        the one the engine is stopping for.
        """
        if self._claimed_at is not None:
            self._claimed_at = None
            try:
                self.store.release_lease(self.name, self.holder)
            except StoreError as exc:
                log.warning(
                    "could not give up the claim on flow %s (it expires within %.0f s): %s",
                    self.flow,
                    LEASE_SECONDS,
                    exc,
                )

    def renew_in(self) -> float | None:
        """Seconds until the claim is due for renewal (0 or less: now); ``None`` unclaimed."""
        if self._claimed_at is None:
            return None
        return self._claimed_at + LEASE_SECONDS / 3 - time.monotonic()

    async def renew(self) -> bool:
        """Renew the claim on a worker thread, so that a state store waiting for a lock does
        not hold the event loop; ``False`` (logged) when the store stayed busy: try again
        soon. A renewal under way when the caller is cancelled is waited for, so that no
        claim is written behind a later :meth:`release`.

        Raises:
            StoreError: another engine holds the flow now.
        """
        renewal = asyncio.ensure_future(asyncio.to_thread(self.claim))
        try:
            await asyncio.shield(renewal)
        except asyncio.CancelledError:
            await asyncio.wait([renewal])
            raise
        except StoreBusy as exc:
            log.warning(
                "could not renew the claim on flow %s, trying again in %.0f s: %s",
                self.flow,
                retry_seconds(),
                exc,
            )
            return False
        return True

    async def keep_during(self, work: asyncio.Future[T]) -> T:
        """Await ``work`` while renewing the claim on a task of its own.

        Should a renewal find the flow taken by another engine, ``work`` is cancelled and
        that error raised instead of the cancellation.

        Raises:
            StoreError: another engine took the flow over while ``work`` ran.
        """
        lost: list[StoreError] = []
        keeper = asyncio.ensure_future(self._keep(work, lost))
        try:
            return await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if lost and (current is None or not current.cancelling()):
                raise lost[0] from None
            raise
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

    async def _keep(self, work: asyncio.Future[T], lost: list[StoreError]) -> None:
        """Renew the claim every third of its length until cancelled; should the flow be
        found taken by another engine, note why in ``lost`` and cancel ``work``."""
        while (due := self.renew_in()) is not None:
            if due > 0:
                await asyncio.sleep(due)
                continue
            try:
                if not await self.renew():
                    await asyncio.sleep(retry_seconds())
            except StoreError as exc:
                log.error("flow %s was taken over during a pass; stopping it: %s", self.flow, exc)
                lost.append(exc)
                work.cancel()
                return


def retry_seconds() -> float:
    """How soon a renewal that found the store busy is tried again."""
    return min(RENEW_RETRY_SECONDS, LEASE_SECONDS / 12)


def _gone(holder: str) -> bool:
    """Whether a lease holder (``host:pid:id``) is a process of this host that has ended."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


__all__ = ["LEASE_SECONDS", "RENEW_RETRY_SECONDS", "FlowClaim", "retry_seconds"]
