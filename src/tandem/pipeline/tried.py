"""Which versions of which records a pass already tried.

A record the work queue brought (a dead letter retried, a reconcile heal) often comes through
the capture of the same pass too; a dry run may read one record twice (the overlap window).
Trying the same version again would count a refusal twice or plan one delete twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tandem.codec import dumps
from tandem.config import Side
from tandem.connectors.base import Change
from tandem.pipeline.outcome import DeadLetterNote, PendingRecord
from tandem.pipeline.passkeys import PassKeys


class TriedVersions:
    """(entity, side, key) -> the version of the record this pass tried: the work queue's
    records, and in a dry run the records it planned a write (or a letter) for. A later read
    of the same version in the pass is not tried again (see :meth:`skip`).

    Past the first few thousand records they are kept on disk (:class:`PassKeys`): a heal of
    100,000 records queues them all. Each batch asks about its records at once.
    """

    def __init__(self, *, dry_run: bool, in_memory: int | None = None) -> None:
        self.dry_run = dry_run
        self._versions = PassKeys(in_memory=in_memory)

    def __bool__(self) -> bool:
        return bool(self._versions)

    def close(self) -> None:
        """Forget every version (and the scratch file, if there is one)."""
        self._versions.close()

    def skip(self, entity: str, source: Side, latest: dict[str, Change]) -> None:
        """Leave out of ``latest`` the records this pass tried already in the version read now.

        A record the work queue brought (a dead letter retried, a reconcile heal) often comes
        through the capture of the same pass too: tried again, a refused one would be
        dead-lettered twice (its attempts counted twice). A dry run, which commits nothing,
        would plan a record read again (a row whose earlier change-log entries the overlap
        window re-reads, each joined to the row as it is now) against state that ``sync``
        would have moved on by then: one delete listed twice. A version that differs (the
        record changed since it was tried) is tried.
        """
        if not self._versions:  # nothing tried: a capture's batch costs nothing
            return
        tried = self._versions.get(entity, source, latest)
        for key, version in tried.items():
            if _same(version, latest[key]):
                del latest[key]

    def note(
        self,
        entity: str,
        source: Side,
        latest: Mapping[str, Change],
        plans: Sequence[PendingRecord],
        dead: Sequence[DeadLetterNote],
        *,
        every: bool,
    ) -> None:
        """Remember the versions of the records of a batch as tried in this pass.

        ``every``: all of them (the work queue's). Else those dead-lettered (a refused
        version read again by a later batch would be refused again, its letter's attempts
        counted twice), and in a dry run also those planned a write, a revert or a conflict
        (a sync commits those, so a later read plans nothing for them; a dry run does not).
        A record that needs nothing plans nothing when read again, and is not kept.

        Every other record of the batch forgets what was remembered of it: only its latest
        version may be left out when read again. A record tried as A, then synced as B, then
        read as A again (changed back) is a change to carry, not a repeat.
        """
        keys: Iterable[str] = latest
        if not every:
            keys = {n.key for n in dead}
            if self.dry_run:
                keys |= {p.record.key for p in plans if not p.plan.noop}
        remembered = set(keys)
        if self._versions:
            self._versions.discard(entity, source, (k for k in latest if k not in remembered))
        versions = [(key, _version(latest[key])) for key in remembered if key in latest]
        if versions:
            self._versions.put(entity, source, versions)


_DELETED = b""
"""The version of a deleted record (a fingerprint is never empty)."""


def _version(change: Change) -> object:
    """The version ``change`` reads: :data:`_DELETED`, or a fingerprint of its native fields.

    A fingerprint (a 16-byte digest of the fields' encoding) keeps a dry run over a large
    initial load small: only the fields' values that the codec cannot encode are kept as
    they are (and in memory, whatever their number). Two reads whose fields encode
    differently (another key order, ``10`` against ``10.0``) count as two versions: the
    record is tried again, as before this was kept.
    """
    if change.deleted:
        return _DELETED
    return _fingerprint(change.fields)


def _same(version: object, change: Change) -> bool:
    """Whether ``change`` reads ``version`` again."""
    if change.deleted or version == _DELETED:
        return change.deleted and version == _DELETED
    return _fingerprint(change.fields) == version


def _fingerprint(fields: Mapping[str, Any]) -> object:
    try:
        text = dumps(dict(fields))
    except (TypeError, ValueError):
        return dict(fields)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


__all__ = ["TriedVersions"]
