"""Both systems of the end-to-end tests and the demo flow between them."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from tandem.config import FlowSpec, load_flow
from tandem.connectors.sql.capture import install_capture
from tandem.demo.erp import BAD_NIP_CUSTOMER, TABLES, create_sample_erp, nip
from tandem.demo.flow import CRM_SCHEMA, write_flow
from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox

UPPERCASE_TITLES = """
CREATE TRIGGER uppercase_titles AFTER UPDATE OF title ON contacts
WHEN NEW.title <> upper(NEW.title)
BEGIN
  UPDATE contacts SET title = upper(NEW.title) WHERE id = NEW.id;
END
"""
"""An ERP trigger (SQLite) that keeps every contact's title in capitals: it rewrites writes."""


@dataclass
class Env:
    """Both systems and the flow between them."""

    folder: Path
    erp_url: str
    crm: SandboxHandle
    config: Path

    def flow(self, **replace: str) -> FlowSpec:
        """The flow, optionally with text replaced in the YAML first."""
        if replace:
            text = self.config.read_text(encoding="utf-8")
            for old, new in replace.items():
                assert old in text
                text = text.replace(old, new)
            self.config.write_text(text, encoding="utf-8")
        return load_flow(self.config)

    def fix_the_bad_nip(self) -> None:
        """Give the demo's customer with an invalid NIP a valid one: then nothing is refused."""
        self.erp(
            "UPDATE customers SET nip = :nip WHERE id = :id",
            nip=nip(random.Random(1)),
            id=BAD_NIP_CUSTOMER,
        )

    def erp(self, sql: str, **params: object) -> None:
        engine = sa.create_engine(self.erp_url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(sql), params)
        finally:
            engine.dispose()

    def erp_rows(self, sql: str, **params: object) -> list[sa.Row[tuple[object, ...]]]:
        engine = sa.create_engine(self.erp_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.text(sql), params))
        finally:
            engine.dispose()

    def crm_rows(self, soql: str, *, deleted: bool = False) -> list[dict[str, object]]:
        page = self.crm.org.query(
            soql, include_deleted=deleted, batch_size=2000, api_version="59.0"
        )
        records = list(page.records)
        while page.locator:
            page = self.crm.org.query_more(page.locator, "59.0")
            records.extend(page.records)
        return records


def build_env(
    folder: Path,
    erp_url: str,
    customers: int = 20,
    *,
    shape_erp: Callable[[str], None] | None = None,
    clock: Callable[[], datetime] | None = None,
    crm_schema: str = CRM_SCHEMA,
    shape_flow: Callable[[str], str] | None = None,
) -> Iterator[Env]:
    """The sample ERP at ``erp_url`` (``customers`` customers, then what ``shape_erp`` makes of
    it) with change capture, the sandbox (on ``clock`` where given, with ``crm_schema``) and
    the demo flow (its text as ``shape_flow`` makes it, where given)."""
    create_sample_erp(erp_url, customers=customers)
    if shape_erp is not None:
        shape_erp(erp_url)
    install_capture(erp_url, list(TABLES))
    schema = folder / "crm_schema.yaml"
    schema.write_text(crm_schema, encoding="utf-8")
    with running_sandbox(folder / "crm", schema_files=[schema], clock=clock) as crm:
        config = write_flow(
            folder,
            erp_url=erp_url,
            state_db=folder / "state.db",
            base_url=crm.base_url,
            ca_file=Path(crm.ca_file),
            username=crm.username,
            client_id=crm.client_id,
            password=crm.password,
            client_secret=crm.client_secret,
        )
        if shape_flow is not None:
            text = config.read_text(encoding="utf-8")
            config.write_text(shape_flow(text), encoding="utf-8")
        yield Env(folder, erp_url, crm, config)
