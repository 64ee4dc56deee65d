"""How often a long Python loop on the event loop gives the other tasks a turn.

Mapping, planning and building the records of a batch is Python work with no await in it.
While it runs, nothing else on the event loop moves: not the batch before, waiting to ask a
Bulk job for its outcomes and to start its commit on a worker thread, nor a request in flight.
Loops over a batch's records therefore ``await asyncio.sleep(0)`` every :data:`TURN_EVERY`
records (checked inline: a coroutine call per record would cost more than the turns).
"""

from __future__ import annotations

TURN_EVERY = 500
"""Records handled between two turns of the event loop: a turn costs about a microsecond,
500 records a few tens of milliseconds of Python."""

__all__ = ["TURN_EVERY"]
