"""A response the transport returns holds no reference cycle: its body is freed when the
caller drops it, not at the next (rare, for batch work) full garbage collection."""

from __future__ import annotations

import gc

import httpx

from tandem.connectors.http import HttpTransport

BODY = b"sf__Id,sf__Created,ERP_Id__c\n" * 5_000


def _result_file(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=BODY, headers={"Content-Type": "text/csv"})


async def test_responses_read_in_full_leave_no_cycles_and_stay_readable() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(_result_file), base_url="https://o")
    transport = HttpTransport(client, system="salesforce")
    try:
        await transport.request("GET", "/r", operation="read", authenticated=False)
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                response = await transport.request(
                    "GET", "/r", operation="read", authenticated=False
                )
                assert response.content == BODY
                assert response.text.startswith("sf__Id,")
                assert [chunk async for chunk in response.aiter_bytes()] == [BODY]
                del response
            left = gc.collect()
        finally:
            gc.enable()
    finally:
        await client.aclose()
    assert left == 0
