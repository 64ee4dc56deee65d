"""Both systems of the end-to-end tests and the demo flow between them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from tandem.config import FlowSpec, load_flow
from tandem.connectors.sql.capture import install_capture
from tandem.demo.erp import TABLES, create_sample_erp
from tandem.demo.flow import CRM_SCHEMA, write_flow
from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox


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


def build_env(folder: Path, erp_url: str, customers: int = 20) -> Iterator[Env]:
    create_sample_erp(erp_url, customers=customers)
    install_capture(erp_url, list(TABLES))
    schema = folder / "crm_schema.yaml"
    schema.write_text(CRM_SCHEMA, encoding="utf-8")
    with running_sandbox(folder / "crm", schema_files=[schema]) as crm:
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
        yield Env(folder, erp_url, crm, config)
