"""``tandem run`` while the CRM is down: the sandbox, a process of its own, is stopped and
started again on the same port and data while edits keep coming on both sides.

Every edit must arrive once the CRM is back, without restarting the agent.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_run_resilience_agent import TANDEM, agent, wait_until

from tandem.connectors.sql.capture import install_capture
from tandem.demo.erp import TABLES, create_sample_erp
from tandem.demo.flow import CRM_SCHEMA, write_flow
from tandem.sandbox.salesforce.org import Org
from tandem.sandbox.salesforce.schema import Schema

FAST = "auth_flow: password\n    max_retries: 2\n    backoff_base: 0.05\n    backoff_cap: 0.2"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Crm:
    """The sandbox as a process of its own, on a fixed port and data directory."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.folder / "sandbox.log").open("a") as sink:
            self.process = subprocess.Popen(
                [*TANDEM, "sandbox", "crm", "--data", str(self.folder / "crm"), *self._where()],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        wait_until("the sandbox listening", self._listening)

    def _where(self) -> list[str]:
        return ["--port", str(self.port), "--schema", str(self.folder / "crm_schema.yaml")]

    def _listening(self) -> bool:
        assert self.process is not None and self.process.poll() is None, "the sandbox died"
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)

    def org(self) -> Org:
        """The org's records, read and edited in its data directory (as its users would)."""
        return Org(
            self.folder / "crm" / "org.sqlite3", Schema.load([self.folder / "crm_schema.yaml"])
        )

    def phones(self) -> dict[str, object]:
        org = self.org()
        try:
            page = org.query(
                "SELECT ERP_Id__c, Phone FROM Account",
                include_deleted=False,
                batch_size=2000,
                api_version="59.0",
            )
            return {str(r["ERP_Id__c"]): r["Phone"] for r in page.records}
        finally:
            org.close()


@pytest.fixture
def systems(tmp_path: Path) -> Iterator[tuple[str, Crm, Path]]:
    """A SQLite ERP with change capture, the sandbox as a process, the demo flow between."""
    erp = f"sqlite:///{tmp_path / 'erp.db'}"
    create_sample_erp(erp, customers=5)
    install_capture(erp, list(TABLES))
    (tmp_path / "crm_schema.yaml").write_text(CRM_SCHEMA, encoding="utf-8")
    crm = Crm(tmp_path, _port())
    crm.start()
    try:
        sandbox = json.loads((tmp_path / "crm" / "sandbox.json").read_text(encoding="utf-8"))
        config = write_flow(
            tmp_path,
            erp_url=erp,
            state_db=tmp_path / "state.db",
            base_url=sandbox["base_url"],
            ca_file=Path(sandbox["ca_file"]),
            username=sandbox["username"],
            client_id=sandbox["client_id"],
            password=sandbox["password"],
            client_secret=sandbox["client_secret"],
        )
        config.write_text(
            config.read_text(encoding="utf-8").replace("auth_flow: password", FAST),
            encoding="utf-8",
        )
        yield erp, crm, config
    finally:
        crm.stop()


def _erp(url: str, sql: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


def _erp_phones(url: str) -> dict[str, object]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, phone FROM customers"))
            return {str(key): phone for key, phone in rows}
    finally:
        engine.dispose()


def test_edits_on_both_sides_while_the_crm_is_down_arrive_once_it_is_back(
    systems: tuple[str, Crm, Path],
) -> None:
    erp, crm, config = systems
    with agent(config, config.parent) as run:
        wait_until("the initial load", lambda: len(crm.phones()) == 5)
        crm.stop()
        _erp(erp, "UPDATE customers SET phone = '+48 101 010 101' WHERE id = 1")
        org = crm.org()
        try:
            (account,) = org.query(
                "SELECT Id FROM Account WHERE ERP_Id__c = '2'",
                include_deleted=False,
                batch_size=200,
                api_version="59.0",
            ).records
            org.update("Account", str(account["Id"]), {"Phone": "+48 202 020 202"})
        finally:
            org.close()
        wait_until("a pass held back by the outage", lambda: "interrupted" in run.log())
        _erp(erp, "UPDATE customers SET phone = '+48 303 030 303' WHERE id = 3")
        assert run.alive(), run.log()
        crm.start()
        wait_until(
            "every edit on the other side",
            lambda: (
                crm.phones()["1"] == "+48 101 010 101"
                and crm.phones()["3"] == "+48 303 030 303"
                and _erp_phones(erp)["2"] == "+48 202 020 202"
            ),
        )
        assert run.stop() == 0, run.log()
    assert len(crm.phones()) == 5  # nothing created twice
