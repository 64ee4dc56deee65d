"""The data core's public surface: what the HTTP layer and the tests import."""

from __future__ import annotations

import inspect

import tandem.sandbox.salesforce as sandbox
from tandem.sandbox.salesforce import ApiError, MultipleMatches, Org, RecordError


def test_all_is_sorted_and_importable() -> None:
    assert sandbox.__all__ == sorted(sandbox.__all__)
    for name in sandbox.__all__:
        assert getattr(sandbox, name) is not None


def test_org_signatures() -> None:
    expected = {
        "describe_global": ["api_version"],
        "describe": ["sobject", "api_version"],
        "create": ["sobject", "values"],
        "retrieve": ["sobject", "record_id", "fields", "api_version"],
        "update": ["sobject", "record_id", "values"],
        "delete": ["sobject", "record_id"],
        "upsert": ["sobject", "ext_field", "ext_value", "values", "update_only"],
        "retrieve_by_external_id": ["sobject", "ext_field", "ext_value", "fields", "api_version"],
        "create_many": ["records", "all_or_none"],
        "update_many": ["records", "all_or_none"],
        "upsert_many": ["sobject", "ext_field", "records", "all_or_none"],
        "retrieve_many": ["sobject", "ids", "fields", "api_version"],
        "delete_many": ["ids", "all_or_none"],
        "query": ["soql", "include_deleted", "batch_size", "api_version"],
        "query_more": ["locator", "api_version"],
        "query_rows": ["soql", "include_deleted"],
        "get_updated": ["sobject", "start", "end"],
        "get_deleted": ["sobject", "start", "end"],
        "bulk_ingest": ["sobject", "operation", "ext_field", "rows"],
        "undelete": ["ids"],
        "empty_recycle_bin": ["ids"],
    }
    for name, params in expected.items():
        method = getattr(Org, name)
        assert list(inspect.signature(method).parameters)[1:] == params, name
        assert inspect.getdoc(method), name


def test_error_shapes() -> None:
    err = ApiError(400, "INVALID_FIELD", "No such column", ["Foo"])
    assert err.to_json() == [
        {"message": "No such column", "errorCode": "INVALID_FIELD", "fields": ["Foo"]}
    ]
    assert ApiError(404, "NOT_FOUND", "gone").to_json() == [
        {"message": "gone", "errorCode": "NOT_FOUND"}
    ]
    multi = MultipleMatches(["/a", "/b"])
    assert multi.status == 300 and multi.matches == ["/a", "/b"] and isinstance(multi, ApiError)
    rec = RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", ["Name"])
    assert (
        rec.to_bulk_error() == "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"
    )
    assert rec.to_save_error()["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert rec.to_api_error().status == 400
