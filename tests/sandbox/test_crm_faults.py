"""Fault injection: error rates, lock errors, limits, expired sessions, seeds, admin API."""

from __future__ import annotations

import pytest
from crm_clients import admin_client, api_client, sandbox_session
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceRefusedRequest

from tandem.sandbox.salesforce.server import SandboxHandle


def _statuses(sandbox: SandboxHandle, calls: int) -> list[int]:
    with api_client(sandbox) as api:
        return [api.get("limits").status_code for _ in range(calls)]


def test_error_rates_are_salesforce_shaped(fresh_crm: SandboxHandle) -> None:
    fresh_crm.set_faults({"error_rates": {503: 1.0}, "retry_after_s": 7})
    with api_client(fresh_crm) as api:
        answer = api.get("limits")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "7"
    assert answer.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    fresh_crm.set_faults({"error_rates": {500: 1.0}})
    with api_client(fresh_crm) as api:
        answer = api.get("limits")
    assert answer.status_code == 500
    assert answer.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    assert "Sforce-Limit-Info" in answer.headers


def test_same_seed_same_faults(fresh_crm: SandboxHandle) -> None:
    config = {"seed": 1234, "error_rates": {500: 0.3, 503: 0.2}}
    fresh_crm.set_faults(config)
    first = _statuses(fresh_crm, 30)
    fresh_crm.set_faults(config)
    second = _statuses(fresh_crm, 30)
    assert first == second
    assert {200, 500, 503} <= set(first)


def test_logins_are_spared_unless_asked(fresh_crm: SandboxHandle) -> None:
    fresh_crm.set_faults({"error_rates": {500: 1.0}})
    session = sandbox_session(fresh_crm)
    sf = Salesforce(
        username=fresh_crm.username,
        password=fresh_crm.password,
        consumer_key=fresh_crm.client_id,
        consumer_secret=fresh_crm.client_secret,
        session=session,
    )
    with pytest.raises(SalesforceGeneralError):
        sf.limits()
    fresh_crm.set_faults({"error_rates": {500: 1.0}, "include_auth": True})
    answer = session.post(
        "https://login.salesforce.com/services/oauth2/token", data={"grant_type": "password"}
    )
    assert answer.status_code == 500


def test_lock_errors_request_level_and_per_record(fresh_crm: SandboxHandle) -> None:
    fresh_crm.set_faults({"lock_rate": 1.0})
    with api_client(fresh_crm) as api:
        single = api.post("sobjects/Account/", json={"Name": "x"})
        assert single.status_code == 400
        assert single.json()[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
        assert api.get("limits").status_code == 200  # reads are never locked
        fresh_crm.set_faults({"lock_rate": 0.5, "seed": 7})
        records = [{"attributes": {"type": "Account"}, "Name": f"L{i}"} for i in range(40)]
        results = api.post("composite/sobjects", json={"records": records}).json()
    codes = {r["errors"][0]["statusCode"] for r in results if not r["success"]}
    assert codes == {"UNABLE_TO_LOCK_ROW"}
    assert 0 < sum(r["success"] for r in results) < 40


def test_limit_after_n_calls(fresh_crm: SandboxHandle) -> None:
    fresh_crm.set_faults({"limit_after": 3})
    assert _statuses(fresh_crm, 5) == [200, 200, 200, 403, 403]
    with api_client(fresh_crm) as api:
        body = api.get("limits").json()
    assert body == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]


def test_daily_allocation_is_enforced(fresh_crm: SandboxHandle) -> None:
    sf = Salesforce(
        instance_url=fresh_crm.base_url,
        session_id=fresh_crm.issue_token(),
        session=sandbox_session(fresh_crm),
    )
    sf.limits()
    used, _ = sf.api_usage["api-usage"]
    fresh_crm.set_daily_limit(used + 1)
    sf.limits()
    assert sf.api_usage["api-usage"] == (used + 1, used + 1)
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.limits()
    assert refused.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_expired_sessions_make_simple_salesforce_log_in_again(fresh_crm: SandboxHandle) -> None:
    sf = Salesforce(
        username=fresh_crm.username,
        password=fresh_crm.password,
        consumer_key=fresh_crm.client_id,
        consumer_secret=fresh_crm.client_secret,
        session=sandbox_session(fresh_crm),
    )
    first_token = sf.session_id
    assert fresh_crm.expire_sessions() >= 1
    assert sf.limits()["DailyApiRequests"]["Max"] > 0
    assert sf.session_id != first_token
    fresh_crm.set_faults({"expire_every": 2})
    for _ in range(4):
        assert sf.limits()["DailyApiRequests"]["Max"] > 0
    assert fresh_crm.state.faults.snapshot()["injected"]["expire"] >= 2


def test_admin_endpoints(fresh_crm: SandboxHandle) -> None:
    with admin_client(fresh_crm) as admin:
        refused = admin.get("/__sandbox/faults", headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 401
        set_answer = admin.post("/__sandbox/faults", json={"error_rates": {"503": 1.0}, "seed": 9})
        assert set_answer.status_code == 200
        assert set_answer.json()["config"]["seed"] == 9
        assert _statuses(fresh_crm, 1) == [503]
        assert admin.post("/__sandbox/faults", json={"bogus": 1}).status_code == 400
        assert admin.delete("/__sandbox/faults").status_code == 200
        assert _statuses(fresh_crm, 1) == [200]
        assert admin.post("/__sandbox/expire-sessions").json()["expired"] >= 1
        limits = admin.post("/__sandbox/limits", json={"daily_limit": 50, "reset": True}).json()
        assert limits == {"max": 50, "used": 0}
        stats = admin.get("/__sandbox/stats").json()
    assert stats["requests"]["GET limits 503"] == 1
    assert stats["api_usage"]["max"] == 50
