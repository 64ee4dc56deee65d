"""What the sandbox's fault injector did, for tests that must prove faults really happened.

Read these before ``clear_faults()``/``set_faults()``: setting faults resets the injector's
counters (the sandbox's per-status answer counters are kept for its whole life).
"""

from __future__ import annotations

from collections import Counter

from tandem.sandbox.salesforce.server import SandboxHandle


def injected(crm: SandboxHandle) -> Counter[str]:
    """Faults injected since the faults were last set, by kind (``http``, ``lock``, ``expire``)."""
    return Counter(crm.state.faults.snapshot()["injected"])


def answers(crm: SandboxHandle, method: str | None = None) -> Counter[int]:
    """How many REST answers of each HTTP status the sandbox gave (only ``method`` calls if set).

    Token-endpoint and SOAP-login answers are left out: the faults spare them by default.
    """
    statuses: Counter[int] = Counter()
    for key, count in crm.state.requests.items():
        verb, kind, status = key.split(" ")
        if kind in ("token", "soap") or (method is not None and verb != method):
            continue
        statuses[int(status)] += count
    return statuses


FAST_RETRIES = {
    "auth_flow: password": (
        "auth_flow: password\n    max_retries: 8\n    backoff_base: 0.01\n    backoff_cap: 0.2"
    )
}
"""Text to replace in the demo flow (``Env.flow(**FAST_RETRIES)``): its CRM connection retries
more, with short backoff, so a pass gets through high fault rates quickly."""
