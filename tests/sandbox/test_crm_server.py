"""The server's life: files in the data directory, restarts, and the ``tandem sandbox crm`` CLI."""

from __future__ import annotations

import json
import os
import signal
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
from crm_clients import api_client

from tandem.sandbox.salesforce.server import running_sandbox

TANDEM = str(Path(sys.executable).with_name("tandem"))  # the installed console script


def test_data_directory_and_restart_keep_everything(tmp_path: Path) -> None:
    data = tmp_path / "crm"
    with running_sandbox(data, daily_limit=500) as first:
        token = first.issue_token()
        with api_client(first, token=token) as api:
            record_id = api.post("sobjects/Account/", json={"Name": "Persisted"}).json()["id"]
            job = api.post("jobs/ingest", json={"object": "Account", "operation": "insert"}).json()
            used = int(api.get("limits").headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])
        saved = json.loads((data / "sandbox.json").read_text())
        credentials = (first.username, first.password, first.client_id, first.client_secret)
    assert saved["base_url"] == first.base_url
    assert saved["ca_file"] == str(data / "ca.pem")
    assert {"username", "password", "client_id", "client_secret", "private_key_file"} <= set(saved)
    for secret in ("jwt-private-key.pem", "server-key.pem", "sandbox.json"):
        assert stat.S_IMODE((data / secret).stat().st_mode) == 0o600, secret

    with running_sandbox(data) as second:
        assert (
            second.username,
            second.password,
            second.client_id,
            second.client_secret,
        ) == credentials
        with api_client(second, token=token) as api:
            assert api.get(f"sobjects/Account/{record_id}").json()["Name"] == "Persisted"
            assert api.get(f"jobs/ingest/{job['id']}").json()["state"] == "Open"
            limit_info = api.get("limits").headers["Sforce-Limit-Info"]
    assert limit_info == f"api-usage={used + 3}/500"


def test_a_queued_bulk_job_is_processed_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "crm"
    with running_sandbox(data) as first:
        first.state.bulk.stop()  # the worker is gone: the job stays queued on disk
        with api_client(first) as api:
            job = api.post("jobs/ingest", json={"object": "Account", "operation": "insert"}).json()
            api.put(
                f"jobs/ingest/{job['id']}/batches",
                content=b"Name\nafter restart\n",
                headers={"Content-Type": "text/csv"},
            )
            closed = api.patch(f"jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
            assert closed.json()["state"] == "UploadComplete"
    with running_sandbox(data) as second, api_client(second) as api:
        deadline = time.monotonic() + 30
        while api.get(f"jobs/ingest/{job['id']}").json()["state"] != "JobComplete":
            assert time.monotonic() < deadline, "the job was not resumed"
            time.sleep(0.02)
        soql = "SELECT COUNT() FROM Account WHERE Name = 'after restart'"
        assert api.get("query", params={"q": soql}).json()["totalSize"] == 1


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "cli"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [TANDEM, "sandbox", "crm", "--port", "0", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        answer = None
        while time.monotonic() < deadline and answer is None and process.poll() is None:
            time.sleep(0.1)
            if not (data / "sandbox.json").exists():
                continue
            saved = json.loads((data / "sandbox.json").read_text())
            context = ssl.create_default_context(cafile=saved["ca_file"])
            try:
                answer = httpx.post(
                    f"{saved['base_url']}/services/oauth2/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": saved["client_id"],
                        "client_secret": saved["client_secret"],
                    },
                    verify=context,
                )
            except httpx.ConnectError:
                continue
        if answer is None:
            died = process.poll() is not None and process.stderr is not None
            raise AssertionError(process.stderr.read() if died else "no answer in 30 s")
        assert answer.status_code == 200
        assert answer.json()["instance_url"] == saved["base_url"]
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert saved["base_url"] in out
    assert str(data / "ca.pem") in out
    assert "Traceback" not in err
