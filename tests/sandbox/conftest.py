"""Fixtures for the CRM sandbox tests: a real HTTPS server and clients that trust its CA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from crm_clients import api_client

from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox

CRM_SCHEMA = Path(__file__).with_name("crm_schema.yaml")


@pytest.fixture(scope="session")
def crm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of the shared sandbox."""
    return tmp_path_factory.mktemp("crm")


@pytest.fixture(scope="session")
def crm(crm_dir: Path) -> Iterator[SandboxHandle]:
    """A sandbox shared by the tests that do not change its faults or limits."""
    with running_sandbox(crm_dir, schema_files=[CRM_SCHEMA]) as handle:
        yield handle


@pytest.fixture
def fresh_crm(tmp_path: Path) -> Iterator[SandboxHandle]:
    """A sandbox of its own, for tests that set faults, limits or expire sessions."""
    with running_sandbox(tmp_path / "crm") as handle:
        yield handle


@pytest.fixture
def api(crm: SandboxHandle) -> Iterator[httpx.Client]:
    """A raw REST client on the shared sandbox (v59.0)."""
    with api_client(crm) as client:
        yield client
