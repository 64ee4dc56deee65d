"""Seeded fault injection: the sandbox misbehaving the way Salesforce does, reproducibly.

A :class:`FaultConfig` says what may go wrong; a :class:`FaultInjector` draws, for each API
call, whether it does, from one ``random.Random(seed)``. A sequential client that replays the
same calls with the same seed meets the same faults. Faults are decided in this order:

1. latency (always added when set);
2. ``REQUEST_LIMIT_EXCEEDED`` once ``limit_after`` calls have been made since the faults were set;
3. session expiry every ``expire_every`` calls (every current token becomes invalid: 401);
4. HTTP error rates (``error_rates``: 500 or 503 with ``Retry-After``);
5. ``UNABLE_TO_LOCK_ROW`` on writes: request-level for single-record sObject calls, per record
   in sObject Collections.

The token endpoint and the SOAP login are spared unless ``include_auth`` is set.

``bulk_rows_per_second`` is no per-call fault but the org's Bulk 2.0 processing pace: an ingest
job then stays InProgress for as long as its rows take at that pace (applied by the Bulk worker
in :mod:`.bulk`, which reads it from :attr:`FaultInjector.config`).
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Fault", "FaultConfig", "FaultInjector", "load_fault_config"]

FaultKind = Literal["limit", "expire", "http", "lock"]


class FaultConfig(BaseModel):
    """What may go wrong, and how often.

    Attributes:
        seed: seed of the random draws; ``None`` picks one (reported by the admin endpoint).
        error_rates: probability per HTTP status, e.g. ``{"500": 0.05, "503": 0.02}``.
        retry_after_s: the ``Retry-After`` seconds sent with a 503.
        latency_ms: added to every API call.
        latency_jitter_ms: a uniform random extra on top of ``latency_ms``.
        lock_rate: probability of ``UNABLE_TO_LOCK_ROW`` per single-record sObject write, and
            per record in sObject Collections (Bulk jobs and Composite are not affected).
        limit_after: answer ``REQUEST_LIMIT_EXCEEDED`` once this many calls were made.
        expire_every: invalidate every session on each N-th call (it answers 401).
        include_auth: let error rates and latency hit the token endpoint and SOAP login too.
        bulk_rows_per_second: the pace a Bulk 2.0 ingest job's rows are processed at (it stays
            InProgress meanwhile, as in a real org); ``None``: as fast as the sandbox can.
    """

    model_config = ConfigDict(extra="forbid")

    seed: int | None = None
    error_rates: dict[int, float] = Field(default_factory=dict)
    retry_after_s: int = Field(default=1, ge=0)
    latency_ms: float = Field(default=0.0, ge=0)
    latency_jitter_ms: float = Field(default=0.0, ge=0)
    lock_rate: float = Field(default=0.0, ge=0, le=1)
    limit_after: int | None = Field(default=None, ge=0)
    expire_every: int | None = Field(default=None, ge=1)
    include_auth: bool = False
    bulk_rows_per_second: float | None = Field(default=None, gt=0)

    def is_quiet(self) -> bool:
        """Return ``True`` when nothing can go wrong (the fast path).

        The Bulk pace is left out: it slows jobs, not the answers to calls.
        """
        return (
            not any(rate > 0 for rate in self.error_rates.values())
            and self.latency_ms == 0
            and self.latency_jitter_ms == 0
            and self.lock_rate == 0
            and self.limit_after is None
            and self.expire_every is None
        )


def load_fault_config(value: str | dict[str, Any] | FaultConfig | None) -> FaultConfig:
    """Read a fault configuration from JSON text, a JSON file path, a dict or a config.

    Args:
        value: ``None`` (no faults), a :class:`FaultConfig`, a dict, JSON text, or a file path.

    Returns:
        The validated configuration.

    Raises:
        ValueError: when the text is neither JSON nor a readable file, or fails validation.
    """
    if value is None:
        return FaultConfig()
    if isinstance(value, FaultConfig):
        return value
    if isinstance(value, dict):
        return FaultConfig.model_validate(value)
    text = value.strip()
    if not text.startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise ValueError(f"faults: {text!r} is neither JSON nor a file")
        text = path.read_text("utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"faults: invalid JSON ({exc.msg} at char {exc.pos})") from exc
    return FaultConfig.model_validate(data)


@dataclass(frozen=True)
class Fault:
    """One decided fault.

    Attributes:
        kind: ``limit``, ``expire``, ``http`` or ``lock``.
        status: the HTTP status to answer with.
    """

    kind: FaultKind
    status: int


class FaultInjector:
    """Thread-safe, seeded decisions over a :class:`FaultConfig`, plus counters.

    Args:
        config: the initial configuration.
    """

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._rng = random.Random()
        self._seed = 0
        self._calls = 0
        self._quiet = True
        self.injected: dict[str, int] = {}
        self.configure(config or FaultConfig())

    @property
    def config(self) -> FaultConfig:
        """The active configuration (its ``seed`` is the one in use)."""
        return self._config

    @property
    def quiet(self) -> bool:
        """``True`` when no fault can be injected."""
        return self._quiet

    def configure(self, config: FaultConfig) -> FaultConfig:
        """Replace the configuration, reseed, and restart the call count.

        Args:
            config: the new configuration; a missing seed is drawn at random.

        Returns:
            The configuration in force, with its seed filled in.
        """
        seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
        active = config.model_copy(update={"seed": seed})
        with self._lock:
            self._config = active
            self._seed = seed
            self._rng = random.Random(seed)
            self._calls = 0
            self._quiet = active.is_quiet()
            self.injected = {}
        return active

    def latency_s(self, *, auth: bool = False) -> float:
        """Seconds to wait before answering this call.

        Args:
            auth: ``True`` for the token endpoint / SOAP login.
        """
        cfg = self._config
        if self._quiet or (auth and not cfg.include_auth):
            return 0.0
        if cfg.latency_ms == 0 and cfg.latency_jitter_ms == 0:
            return 0.0
        with self._lock:
            jitter = self._rng.uniform(0, cfg.latency_jitter_ms) if cfg.latency_jitter_ms else 0.0
        return (cfg.latency_ms + jitter) / 1000.0

    def decide(self, *, write: bool, auth: bool = False, per_record: bool = False) -> Fault | None:
        """Decide whether this call fails, and how.

        Args:
            write: the call changes data (eligible for ``UNABLE_TO_LOCK_ROW``).
            auth: the call is a login (only HTTP error rates apply, and only with
                ``include_auth``).
            per_record: lock faults are drawn per record by :meth:`lock_record` instead.

        Returns:
            The fault to answer with, or ``None`` to proceed.
        """
        if self._quiet:
            return None
        cfg = self._config
        if auth and not cfg.include_auth:
            return None
        with self._lock:
            fault = self._decide_locked(cfg, write=write, auth=auth, per_record=per_record)
            if fault is not None:
                self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
            return fault

    def _decide_locked(
        self, cfg: FaultConfig, *, write: bool, auth: bool, per_record: bool
    ) -> Fault | None:
        if not auth:
            self._calls += 1
            if cfg.limit_after is not None and self._calls > cfg.limit_after:
                return Fault("limit", 403)
            if cfg.expire_every is not None and self._calls % cfg.expire_every == 0:
                return Fault("expire", 401)
        for status in sorted(cfg.error_rates):
            rate = cfg.error_rates[status]
            if rate > 0 and self._rng.random() < rate:
                return Fault("http", status)
        lockable = write and not per_record and not auth and cfg.lock_rate > 0
        if lockable and self._rng.random() < cfg.lock_rate:
            return Fault("lock", 400)
        return None

    def lock_record(self) -> bool:
        """Draw whether one record of a collection fails with ``UNABLE_TO_LOCK_ROW``."""
        cfg = self._config
        if self._quiet or cfg.lock_rate == 0:
            return False
        with self._lock:
            hit = self._rng.random() < cfg.lock_rate
            if hit:
                self.injected["lock"] = self.injected.get("lock", 0) + 1
            return hit

    def snapshot(self) -> dict[str, Any]:
        """The configuration and counters, for ``GET /__sandbox/faults``."""
        with self._lock:
            return {
                "config": self._config.model_dump(mode="json"),
                "calls": self._calls,
                "injected": dict(self.injected),
            }
