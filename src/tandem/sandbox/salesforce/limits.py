"""The org's daily API allocation: the counter behind ``Sforce-Limit-Info`` and ``/limits``.

Real API calls (everything under ``/services/data/vNN.N/`` except the version list, plus
Bulk 2.0) count; the token endpoint and the SOAP login do not. The count resets at midnight
UTC (a simplification of Salesforce's rolling 24 hours) and is saved to ``DIR/api_usage.json``
at most once a second and on close, so it survives a restart.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_DAILY_LIMIT", "ApiUsage"]

DEFAULT_DAILY_LIMIT = 100_000
_SAVE_INTERVAL_S = 1.0


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


class ApiUsage:
    """A thread-safe, persisted counter of API calls against a daily maximum.

    Args:
        path: the JSON file the count is kept in, or ``None`` to keep it in memory only.
        daily_limit: the daily allocation (``Max`` in ``/limits``); ``None`` keeps the
            value saved in ``path`` (or the default on first start).
    """

    def __init__(self, path: Path | None, daily_limit: int | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._day = _today()
        self._used = 0
        self._max = DEFAULT_DAILY_LIMIT
        self._last_save = 0.0
        self._dirty = False
        if path is not None and path.exists():
            saved: dict[str, Any] = json.loads(path.read_text("utf-8"))
            if saved.get("day") == self._day:
                self._used = int(saved.get("used", 0))
            self._max = int(saved.get("max", DEFAULT_DAILY_LIMIT))
        if daily_limit is not None:
            self._max = daily_limit
        self._save_locked()

    @property
    def maximum(self) -> int:
        """The daily allocation."""
        return self._max

    @property
    def used(self) -> int:
        """Calls counted today."""
        with self._lock:
            self._roll_locked()
            return self._used

    def set_limit(self, daily_limit: int) -> None:
        """Change the daily allocation (admin endpoint).

        Args:
            daily_limit: the new maximum.
        """
        with self._lock:
            self._max = daily_limit
            self._save_locked()

    def reset(self) -> None:
        """Set today's count back to zero (admin endpoint)."""
        with self._lock:
            self._used = 0
            self._save_locked()

    def try_consume(self) -> bool:
        """Count one call if the allocation allows it.

        Returns:
            ``True`` when the call was counted, ``False`` when the limit is already reached.
        """
        with self._lock:
            self._roll_locked()
            if self._used >= self._max:
                return False
            self._used += 1
            self._dirty = True
            if time.monotonic() - self._last_save >= _SAVE_INTERVAL_S:
                self._save_locked()
            return True

    def header(self) -> str:
        """The ``Sforce-Limit-Info`` value, e.g. ``api-usage=18/100000``."""
        return f"api-usage={self._used}/{self._max}"

    def close(self) -> None:
        """Save the count if it changed since the last save."""
        with self._lock:
            if self._dirty:
                self._save_locked()

    def _roll_locked(self) -> None:
        today = _today()
        if today != self._day:
            self._day = today
            self._used = 0

    def _save_locked(self) -> None:
        self._last_save = time.monotonic()
        self._dirty = False
        if self._path is None:
            return
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"day": self._day, "used": self._used, "max": self._max}))
        os.replace(tmp, self._path)
