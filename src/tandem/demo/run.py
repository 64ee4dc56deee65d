"""``tandem demo``: a sample ERP and the CRM sandbox, synchronised for real, step by step."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console

from tandem.config import load_flow
from tandem.connectors.sql.capture import install_capture, uninstall_capture
from tandem.demo.erp import TABLES, create_sample_erp
from tandem.demo.flow import CRM_SCHEMA, write_flow
from tandem.pipeline.engine import Engine
from tandem.pipeline.events import EventBus
from tandem.pipeline.reconcile import ReconcileReport, reconcile
from tandem.pipeline.report import PassReport
from tandem.pipeline.runtime import running_engine
from tandem.sandbox.salesforce.org import Org
from tandem.sandbox.salesforce.server import running_sandbox


@dataclass(slots=True)
class DemoResult:
    """What the demo did, for the summary and for tests."""

    config: Path
    erp_rows: dict[str, int]
    passes: list[PassReport] = field(default_factory=list)
    crm_counts: dict[str, int] = field(default_factory=dict)
    erp_edit_seen_in_crm: bool = False
    crm_edit_seen_in_erp: bool = False
    dead_letters: list[str] = field(default_factory=list)
    reconcile: ReconcileReport | None = None


Step = Callable[[str], None]


async def run_demo(
    folder: Path,
    *,
    customers: int = 200,
    erp_url: str | None = None,
    console: Console | None = None,
    progress: Callable[[EventBus], AbstractContextManager[None]] | None = None,
) -> DemoResult:
    """Build the demo in ``folder`` and run it; every step talks to the real systems."""
    out = console or Console(quiet=True)
    erp_url = erp_url or f"sqlite:///{folder / 'erp.db'}"
    out.rule("1. a sample ERP")
    rows, schema_file, state_db, crm_dir = _prepare(folder, erp_url, customers)
    out.print(", ".join(f"{n} {t}" for t, n in rows.items()) + "; change capture installed")
    with running_sandbox(crm_dir, schema_files=[schema_file]) as crm:
        out.rule("2. the CRM sandbox (local Salesforce over HTTPS)")
        out.print(f"{crm.base_url} (CA {crm.ca_file})")
        crm_url = crm.base_url
        config = write_flow(
            folder,
            erp_url=erp_url,
            state_db=state_db,
            base_url=crm.base_url,
            ca_file=Path(crm.ca_file),
            username=crm.username,
            client_id=crm.client_id,
            password=crm.password,
            client_secret=crm.client_secret,
        )
        result = DemoResult(config=config, erp_rows=rows)
        flow = load_flow(config)
        bus = EventBus()
        async with running_engine(flow, bus=bus) as engine:
            out.rule("3. first sync: initial load, both ways")
            result.passes.append(await _pass(engine, bus, progress))
            _print_pass(out, result.passes[-1])

            out.rule("4. second sync: nothing changed, nothing written")
            result.passes.append(await engine.sync())
            out.print(f"{result.passes[-1].writes} writes")

            out.rule("5. an edit in the ERP reaches the CRM")
            _erp_execute(erp_url, "UPDATE customers SET phone = '+48 555 000 111' WHERE id = 1")
            result.passes.append(await engine.sync())
            phone = _crm_value(crm.org, "Account", "Phone", "ERP_Id__c", "1")
            result.erp_edit_seen_in_crm = phone == "+48 555 000 111"
            out.print(f"ERP customers.phone -> Salesforce Account.Phone = {phone!r}")

            out.rule("6. an edit in the CRM reaches the ERP")
            contact_id = engine.store.partner("contact", "erp", "1")
            if contact_id is not None:
                crm.org.update("Contact", contact_id, {"Title": "Chief Executive Officer"})
            result.passes.append(await engine.sync())
            title = _erp_scalar(erp_url, "SELECT title FROM contacts WHERE id = 1")
            result.crm_edit_seen_in_erp = title == "Chief Executive Officer"
            out.print(f"Salesforce Contact.Title -> ERP contacts.title = {title!r}")

            out.rule("7. dead letters: bad records wait, named, while the rest went through")
            for letter in engine.store.dead_letters(flow=flow.name, status="open"):
                line = f"{letter.entity} {letter.record_key}: {letter.message}"
                result.dead_letters.append(line)
                out.print(line)

            out.rule("8. reconcile: both systems compared record by record")
            result.reconcile = await reconcile(engine)
            for name, counts in result.reconcile.entities.items():
                out.print(f"{name}: {counts.in_sync} in sync, differences: {counts.drift or 0}")
        result.crm_counts = {
            obj: crm.org.query(
                f"SELECT COUNT() FROM {obj}",
                include_deleted=False,
                batch_size=2000,
                api_version="59.0",
            ).total_size
            for obj in ("Account", "Contact", "Product_Category__c", "Product2", "PricebookEntry")
        }
    out.rule("done")
    out.print(f"Salesforce now holds {result.crm_counts}")
    port = crm_url.rsplit(":", 1)[1]
    out.print(f"The flow is {config}. To keep going yourself, start the same CRM sandbox:")
    out.print(f"  tandem sandbox crm --port {port} --data {crm_dir} --schema {schema_file}")
    out.print(f"then, in another terminal: tandem run -c {config}")
    return result


def _prepare(folder: Path, erp_url: str, customers: int) -> tuple[dict[str, int], Path, Path, Path]:
    """Fresh sample ERP with change capture, the CRM's custom schema, no old state or CRM data."""
    folder.mkdir(parents=True, exist_ok=True)
    # A demo run again starts from scratch: no change log left from the previous one.
    uninstall_capture(erp_url, [table for table, _ in TABLES], drop_changelog=True)
    rows = create_sample_erp(erp_url, customers=customers)
    install_capture(erp_url, list(TABLES))
    schema_file = folder / "crm_schema.yaml"
    schema_file.write_text(CRM_SCHEMA, encoding="utf-8")
    state_db = folder / "state.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state_db}{suffix}").unlink(missing_ok=True)
    crm_dir = folder / "crm"
    shutil.rmtree(crm_dir, ignore_errors=True)
    return rows, schema_file, state_db, crm_dir


async def _pass(
    engine: Engine,
    bus: EventBus,
    progress: Callable[[EventBus], AbstractContextManager[None]] | None,
) -> PassReport:
    if progress is None:
        return await engine.sync()
    with progress(bus):
        return await engine.sync()


def _print_pass(out: Console, report: PassReport) -> None:
    for entity, per in report.counts.items():
        for direction, counts in per.items():
            out.print(
                f"{entity:18} {direction}: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            )


def _erp_execute(url: str, sql: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


def _erp_scalar(url: str, sql: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


def _crm_value(org: Org, sobject: str, field_name: str, by: str, value: str) -> object:
    page = org.query(
        f"SELECT {field_name} FROM {sobject} WHERE {by} = '{value}'",
        include_deleted=False,
        batch_size=2000,
        api_version="59.0",
    )
    return page.records[0][field_name] if page.records else None


__all__ = ["DemoResult", "run_demo"]
