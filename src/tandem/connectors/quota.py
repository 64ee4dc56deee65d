"""The quota governor: spend the daily API budget, but never the share left to others.

Salesforce reports the org's rolling 24-hour usage on every REST response
(``Sforce-Limit-Info: api-usage=USED/MAX``). The governor keeps the latest figures, counts the
calls this process makes, and is asked before every call (:meth:`QuotaGovernor.acquire`). When
one more call would eat into the reserve (``quota_reserve`` of the budget, 20% by default) it
either refuses with :class:`~tandem.errors.Fatal` (code :data:`RESERVE_CODE`), so the flow stops
early and resumes cleanly later, or waits for the budget to recover (``on_reserve="wait"``).

Refusing makes no call, so no answer brings newer figures: once they are ``wait_interval`` old,
the next ask reads them again (``probe``) before refusing, and a long-running agent that paused
on the reserve resumes when the rolling window has freed calls.

Within :func:`~tandem.connectors.http.waits_cut_short_by`, a wait for the budget ends as soon as
the agent is told to stop, raising :class:`~tandem.errors.Stopping`: no call was made.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Literal

import httpx

from tandem.connectors.http import wait_unless_stopping
from tandem.errors import Fatal, Stopping

__all__ = ["BUDGET_CODES", "RESERVE_CODE", "QuotaGovernor", "parse_limit_info"]

logger = logging.getLogger(__name__)

RESERVE_CODE = "QUOTA_RESERVE"
"""The code of the :class:`~tandem.errors.Fatal` raised when the reserve is reached."""

BUDGET_CODES = frozenset({RESERVE_CODE, "REQUEST_LIMIT_EXCEEDED"})
"""Codes of a :class:`~tandem.errors.Fatal` that means "the daily budget is spent": this
governor's refusal, and the org's own (Salesforce's answer once the integrations sharing the
org spent its whole allocation, which the governor cannot foresee). Both pass as the rolling
24-hour window frees calls."""

_USAGE = re.compile(r"(?<![\w-])api-usage=(\d+)/(\d+)")


def parse_limit_info(value: str | None) -> tuple[int, int] | None:
    """``(used, max)`` from a ``Sforce-Limit-Info`` header, or ``None`` when absent."""
    if not value:
        return None
    match = _USAGE.search(value)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


class QuotaGovernor:
    """Keeps a share of the daily API budget for others.

    Args:
        reserve: share of the daily budget (0..1) Tandem must leave unused.
        on_reserve: ``fail`` raises :class:`~tandem.errors.Fatal`; ``wait`` sleeps and re-checks.
        wait_interval: seconds between re-checks when waiting; in ``fail`` mode, how old the
            figures may grow before a refusal reads them again.
        max_wait: give up waiting (``Fatal``) after this many seconds.
        probe: refreshes the figures while waiting (e.g. a call to the limits resource);
            without it the governor only sleeps and lets one call through to learn.
        sleep: the sleep function (tests inject a fake).
        system: system name for errors.
        clock: seconds on a monotonic clock (tests inject their own).

    Attributes:
        used: the org's usage as last reported (plus calls made since).
        max: the org's daily allocation, ``None`` until known.
        calls_made: API calls this process made through this governor.
    """

    def __init__(
        self,
        reserve: float = 0.2,
        *,
        on_reserve: Literal["fail", "wait"] = "fail",
        wait_interval: float = 60.0,
        max_wait: float = 3600.0,
        probe: Callable[[], Awaitable[None]] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        system: str = "salesforce",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 <= reserve < 1.0:
            raise ValueError(f"quota reserve must be in [0, 1), got {reserve}")
        self.reserve = reserve
        self.on_reserve = on_reserve
        self.wait_interval = wait_interval
        self.max_wait = max_wait
        self.probe = probe
        self.sleep = sleep
        self.system = system
        self.clock = clock
        self._updated_at = clock()
        self.used = 0
        self.max: int | None = None
        self.calls_made = 0

    @property
    def budget(self) -> int | None:
        """The usage level Tandem may reach: ``max * (1 - reserve)``, ``None`` until known."""
        if self.max is None:
            return None
        return int(self.max * (1.0 - self.reserve))

    def update(self, used: int, maximum: int) -> None:
        """Record the org's usage figures (from a header or the limits resource)."""
        self.used = used
        self.max = maximum
        self._updated_at = self.clock()

    def observe(self, response: httpx.Response) -> None:
        """Read ``Sforce-Limit-Info`` from a response, when it carries one."""
        figures = parse_limit_info(response.headers.get("Sforce-Limit-Info"))
        if figures is not None:
            self.update(*figures)

    def would_exceed(self) -> bool:
        """Whether one more call would eat into the reserve."""
        budget = self.budget
        return budget is not None and self.used + 1 > budget

    async def acquire(self) -> None:
        """Permit one API call, or wait / refuse when it would eat into the reserve.

        Raises:
            Fatal: the reserve is reached (``fail``), or waiting took longer than ``max_wait``.
            Stopping: the agent was told to stop while waiting (``wait``): no call was made.
        """
        waited = 0.0
        while self.would_exceed():
            if self.on_reserve == "fail" and self.probe is not None and self._stale():
                await self.probe()
                self._updated_at = self.clock()  # a probe without figures is not asked again
                continue
            message = self._message()
            if self.on_reserve == "fail" or waited >= self.max_wait:
                raise Fatal(message, system=self.system, operation="quota", code=RESERVE_CODE)
            logger.warning("%s: %s; waiting %.0fs", self.system, message, self.wait_interval)
            if not await wait_unless_stopping(self.sleep, self.wait_interval):
                raise Stopping(
                    f"{message}; the wait for the budget was cut short: the agent is stopping",
                    system=self.system,
                    operation="quota",
                    code=RESERVE_CODE,
                )
            waited += self.wait_interval
            if self.probe is not None:
                await self.probe()
            else:
                break  # no way to learn but to try one call; its header updates the figures
        self.used += 1
        self.calls_made += 1

    def _stale(self) -> bool:
        """Whether the figures are too old to refuse on without reading them again."""
        return self.clock() - self._updated_at >= self.wait_interval

    def _message(self) -> str:
        return (
            f"daily API budget reserve reached: used {self.used} of {self.max}, "
            f"reserve {round(self.reserve * 100)}%"
        )
