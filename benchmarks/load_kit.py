"""The parts of the engine load benchmark: the ERP, the sandbox process, counting and checking.

Used by ``benchmarks/engine_load.py`` (the benchmark), ``benchmarks/load_peers.py`` (the
simple-salesforce contenders) and ``tests/benchmarks/test_engine_load_smoke.py``.

* :func:`create_erp` writes a SQLite ERP with ``n`` customers (valid Polish NIPs) and installs
  Tandem's change capture; :func:`update_rows` edits ``k`` of them (phone and city).
* :class:`SandboxProcess` runs ``tandem sandbox crm`` as a separate process (its own GIL) with
  a fresh data directory and reads its ``sandbox.json``; :meth:`SandboxProcess.api_used` is the
  sandbox's own API counter (``/__sandbox/stats``), the same for every contender.
* :func:`run_measured` runs a command and returns its wall time and peak RSS (``wait4``).
* :func:`crm_accounts` reads every Account back (Bulk query) for the checks in :func:`verify`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from tandem.connectors.sql.capture import install_capture

API = "59.0"
TANDEM = str(Path(sys.executable).with_name("tandem"))
COUNTRIES = {"PL": "Poland", "DE": "Germany", "CZ": "Czechia"}
CITIES = ["Warszawa", "Kraków", "Gdańsk", "Poznań", "Wrocław", "Łódź", "Lublin", "Szczecin"]
STREETS = ["Marszałkowska", "Długa", "Polna", "Lipowa", "Ogrodowa", "Kwiatowa", "Leśna"]
WORDS = ["Alfa", "Beta", "Delta", "Orion", "Vega", "Nord", "Mazur", "Wisła", "Odra", "Tatry"]
FORMS = ["Sp. z o.o.", "S.A.", "sp.j.", "GmbH", "s.r.o."]

CRM_SCHEMA = """\
objects:
  Account:
    fields:
      Tax_Id__c: {type: string, length: 20, label: Tax ID}
"""

CUSTOMERS = """\
CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    number VARCHAR(20) NOT NULL UNIQUE,
    name VARCHAR(255) NOT NULL,
    nip VARCHAR(20),
    phone VARCHAR(40),
    street VARCHAR(255),
    city VARCHAR(40),
    postal_code VARCHAR(20),
    country_code VARCHAR(2),
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)"""


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, OS and Python of this machine."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def reference_loop_seconds(n: int = 5_000_000) -> float:
    """Seconds a fixed pure-Python loop takes now: the machine's pace at this moment.

    Measured before and after each run, it shows how much of a difference between runs is the
    machine's (a shared host's cores slow down and speed up) rather than the contenders'.
    """
    started = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    assert total == n * (n - 1) // 2
    return time.perf_counter() - started


# --- the ERP ---------------------------------------------------------------------------------


def nip(rng: random.Random) -> str:
    """A random Polish NIP with a valid checksum."""
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(8)]
        check = sum(w * d for w, d in zip(weights, digits, strict=True)) % 11
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def customer_rows(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``count`` realistic customers (deterministic for a seed)."""
    rng = random.Random(seed)
    for n in range(1, count + 1):
        country = rng.choices(list(COUNTRIES), weights=(8, 1, 1))[0]
        yield {
            "number": f"C-{n:07d}",
            "name": f"{rng.choice(WORDS)} {rng.choice(WORDS)} {n} {rng.choice(FORMS)}",
            "nip": nip(rng),
            "phone": f"+48 {rng.randint(500, 899)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
            "street": f"ul. {rng.choice(STREETS)} {rng.randint(1, 200)}",
            "city": rng.choice(CITIES),
            "postal_code": f"{rng.randint(0, 99):02d}-{rng.randint(0, 999):03d}",
            "country_code": country,
        }


def erp_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite ERP file."""
    return f"sqlite:///{path}"


def create_erp(path: Path, count: int) -> None:
    """A SQLite ERP with ``count`` customers and Tandem's change capture installed."""
    engine = sa.create_engine(erp_url(path))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(CUSTOMERS))
            rows = customer_rows(count)
            insert = sa.text(
                "INSERT INTO customers (number, name, nip, phone, street, city, postal_code, "
                "country_code) VALUES (:number, :name, :nip, :phone, :street, :city, "
                ":postal_code, :country_code)"
            )
            while chunk := [row for _, row in zip(range(5000), rows, strict=False)]:
                conn.execute(insert, chunk)
    finally:
        engine.dispose()
    install_capture(erp_url(path), [("customers", "id")])


def changed_phone(key: int, tag: int) -> str:
    """The phone a changed row gets (unique per row and round ``tag``, 100..999)."""
    return f"+48 {tag:03d} {key:07d}"


def update_rows(path: Path, keys: Sequence[int], tag: int) -> None:
    """Give ``keys`` a new phone and city, one ERP transaction per 1,000 rows."""
    engine = sa.create_engine(erp_url(path))
    statement = sa.text(
        "UPDATE customers SET phone = :phone, city = :city, updated_at = CURRENT_TIMESTAMP "
        "WHERE id = :id"
    )
    try:
        for start in range(0, len(keys), 1000):
            with engine.begin() as conn:
                conn.execute(
                    statement,
                    [
                        {"id": k, "phone": changed_phone(k, tag), "city": "Gdynia"}
                        for k in keys[start : start + 1000]
                    ],
                )
    finally:
        engine.dispose()


def touch_row(path: Path, key: int) -> None:
    """Rewrite one row with its own values: a change-log entry, but nothing to sync."""
    engine = sa.create_engine(erp_url(path))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE customers SET name = name WHERE id = :id"), {"id": key})
    finally:
        engine.dispose()


def changed_keys(count: int, changes: int, seed: int = 11) -> list[int]:
    """Which customers change: ``changes`` distinct ids, sorted."""
    return sorted(random.Random(seed).sample(range(1, count + 1), changes))


# --- the CRM sandbox --------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SandboxProcess:
    """``tandem sandbox crm`` in its own process, with a fresh data directory.

    Attributes:
        data: the data directory (``sandbox.json`` is read from it).
        schema: the extra schema YAML (``Tax_Id__c``).
        rtt_ms: a network round trip added to every answer, the token endpoint's too (the
            sandbox's ``latency_ms``): 0 is loopback; an on-premise agent talking to a cloud
            org waits at least one round trip per call.
        config: ``sandbox.json`` once started.
    """

    data: Path
    schema: Path
    rtt_ms: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)
    _process: subprocess.Popen[bytes] | None = None
    _admin: httpx.Client | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until it answers."""
        self.data.mkdir(parents=True, exist_ok=True)
        self.schema.write_text(CRM_SCHEMA, encoding="utf-8")
        port = free_port()
        command = [TANDEM, "sandbox", "crm", "--port", str(port), "--data", str(self.data)]
        command += ["--schema", str(self.schema), "--daily-limit", "10000000"]
        if self.rtt_ms:
            faults = {"latency_ms": self.rtt_ms, "include_auth": True}
            command += ["--faults", json.dumps(faults)]
        log = (self.data / "sandbox.log").open("wb")
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start; see {self.data / 'sandbox.log'}")
            time.sleep(0.1)
            saved = self.data / "sandbox.json"
            if not saved.exists():
                continue
            with contextlib.suppress(ValueError):
                self.config = json.loads(saved.read_text(encoding="utf-8"))
            if f":{port}" not in str(self.config.get("base_url", "")):
                continue
            self._admin = httpx.Client(
                base_url=self.base_url,
                verify=self.ssl_context(),
                headers={"Authorization": f"Bearer {self.config['admin_token']}"},
                timeout=60,
            )
            with contextlib.suppress(httpx.HTTPError):
                self._admin.get("/__sandbox/stats").raise_for_status()
                return

    def stop(self) -> None:
        """SIGTERM the server and wait for it."""
        if self._admin is not None:
            self._admin.close()
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> SandboxProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The sandbox's HTTPS base URL."""
        return str(self.config["base_url"])

    @property
    def ca_file(self) -> str:
        """The CA clients must trust."""
        return str(self.config["ca_file"])

    def ssl_context(self) -> ssl.SSLContext:
        """A TLS context trusting the sandbox CA."""
        return ssl.create_default_context(cafile=str(self.data / "ca.pem"))

    def api_used(self) -> int:
        """API calls counted by the sandbox today (its ``Sforce-Limit-Info`` counter)."""
        assert self._admin is not None
        answer = self._admin.get("/__sandbox/stats")
        answer.raise_for_status()
        return int(answer.json()["api_usage"]["used"])

    def faults(self) -> dict[str, Any]:
        """The sandbox's active fault configuration (``GET /__sandbox/faults``)."""
        assert self._admin is not None
        answer = self._admin.get("/__sandbox/faults")
        answer.raise_for_status()
        return dict(answer.json())

    def stats(self) -> dict[str, Any]:
        """The sandbox's request counters (by method, resource and status)."""
        assert self._admin is not None
        answer = self._admin.get("/__sandbox/stats")
        answer.raise_for_status()
        return dict(answer.json())

    def token(self) -> str:
        """A fresh access token (client credentials; the token endpoint is not an API call)."""
        answer = httpx.post(
            f"{self.base_url}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.config["client_id"],
                "client_secret": self.config["client_secret"],
            },
            verify=self.ssl_context(),
        )
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def api(self) -> httpx.Client:
        """An httpx client on ``/services/data/v59.0/`` (for checks, not for contenders)."""
        return httpx.Client(
            base_url=f"{self.base_url}/services/data/v{API}/",
            verify=self.ssl_context(),
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=300,
        )


# --- checking the CRM -------------------------------------------------------------------------


def crm_accounts(crm: SandboxProcess) -> list[dict[str, str]]:
    """Every live Account's ERP_Id__c, Phone and BillingCity (one Bulk query job)."""
    with crm.api() as api:
        job = api.post(
            "jobs/query",
            json={
                "operation": "query",
                "query": "SELECT ERP_Id__c, Phone, BillingCity FROM Account",
            },
        ).json()
        while True:
            info = api.get(f"jobs/query/{job['id']}").json()
            if info["state"] == "JobComplete":
                break
            if info["state"] in ("Failed", "Aborted"):
                raise RuntimeError(f"query job {info['state']}: {info.get('errorMessage')}")
            time.sleep(0.2)
        rows: list[dict[str, str]] = []
        locator = ""
        while True:
            params = {"maxRecords": "50000"} | ({"locator": locator} if locator else {})
            page = api.get(f"jobs/query/{job['id']}/results", params=params)
            page.raise_for_status()
            rows.extend(csv.DictReader(io.StringIO(page.text)))
            locator = page.headers.get("Sforce-Locator", "null")
            if locator in ("", "null"):
                return rows


def verify(
    accounts: Sequence[dict[str, str]],
    expected: int,
    changed: Sequence[int] = (),
    tag: int = 0,
) -> dict[str, Any]:
    """The checks of one contender: count, duplicates, changed values present.

    Args:
        accounts: :func:`crm_accounts` rows.
        expected: records that must be in the CRM.
        changed: ERP ids whose phone was changed with ``tag``.
        tag: the round tag passed to :func:`update_rows`.

    Returns:
        ``count``, ``duplicates``, ``changed_ok``, ``changed_expected`` and ``ok``.
    """
    ids = Counter(a["ERP_Id__c"] for a in accounts)
    duplicates = sum(n - 1 for n in ids.values() if n > 1)
    phones = {a["ERP_Id__c"]: a["Phone"] for a in accounts}
    changed_ok = sum(1 for k in changed if phones.get(str(k)) == changed_phone(k, tag))
    return {
        "count": len(accounts),
        "expected": expected,
        "duplicates": duplicates,
        "changed_ok": changed_ok,
        "changed_expected": len(changed),
        "ok": len(accounts) == expected and duplicates == 0 and changed_ok == len(changed),
    }


# --- measuring a process ----------------------------------------------------------------------


@dataclass
class Measured:
    """One measured child process."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    settled_s: float = 0.0
    """How long the machine was let settle before the process started (not in ``seconds``)."""


_best_pace: list[float] = []
"""The fastest reference loop seen in this process (see :func:`settle`)."""

SETTLE_LOOP = 1_000_000
SETTLE_SLACK = 1.25
SETTLE_TIMEOUT = 30.0


def calibrate(samples: int = 15, gap: float = 0.2) -> float:
    """Seed :func:`settle`'s fastest pace with the best of several short loops; that pace.

    Without it the first phase measured would set the bar itself and never wait.
    """
    for _ in range(samples):
        pace = reference_loop_seconds(SETTLE_LOOP)
        _best_pace[:] = [min([pace, *_best_pace])]
        time.sleep(gap)
    return _best_pace[0]


def settle(timeout: float = SETTLE_TIMEOUT) -> float:
    """Let the machine settle before a measured phase; the seconds it took.

    Dirty pages are flushed (``os.sync``: the ERP copy and the CRM verification before a
    phase write tens of MB), then a short reference loop is timed until it runs within
    ``SETTLE_SLACK`` of the fastest seen, or ``timeout`` passes. Every contender's every phase
    starts this way, so none inherits another's disk writes or a slow spell of the host.
    """
    started = time.perf_counter()
    os.sync()
    while True:
        pace = reference_loop_seconds(SETTLE_LOOP)
        best = min([pace, *_best_pace])
        _best_pace[:] = [best]
        if pace <= best * SETTLE_SLACK or time.perf_counter() - started > timeout:
            return round(time.perf_counter() - started, 2)
        time.sleep(0.5)


def run_measured(command: Sequence[str], *, cwd: Path | None = None) -> Measured:
    """Run ``command`` once the machine settled (:func:`settle`); its wall time and peak RSS.

    The peak is the child's own high-water mark (``VmHWM`` of ``/proc/<pid>/status``, read
    every 10 ms while it runs), not ``ru_maxrss`` from ``wait4``: Linux carries into a
    child's ``ru_maxrss`` the high-water mark of the memory it was forked from, so a child of
    this driver (which holds the ERP rows and the CRM's Accounts it just verified) would
    report the driver's peak when its own is lower. ``ru_maxrss`` is the fallback where there
    is no ``/proc``. The mark is sampled while the child lives, so a peak reached after the
    last sample, in the child's last 10 ms, is missed; the contenders peak long before.
    """
    settled = settle()
    started = time.perf_counter()
    with (
        open(os.devnull, "rb") as stdin,
        _temp_out() as out,
        _temp_out() as err,
    ):
        process = subprocess.Popen(command, stdin=stdin, stdout=out, stderr=err, cwd=cwd)
        status_file = Path(f"/proc/{process.pid}/status")
        peak_kb = 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak_kb = max(peak_kb, _high_water_kb(status_file))
            time.sleep(0.01)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return Measured(
            seconds,
            (peak_kb or usage.ru_maxrss) / 1024,  # kilobytes on Linux
            process.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            settled,
        )


def _high_water_kb(status_file: Path) -> int:
    """A running process's peak resident memory so far (``VmHWM``, kB); 0 if unknown."""
    try:
        text = status_file.read_text(encoding="ascii", errors="replace")
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def _temp_out() -> Iterator[Any]:
    import tempfile

    with tempfile.TemporaryFile() as handle:
        yield handle


def now_utc() -> str:
    """The current UTC time, ISO-8601."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()
