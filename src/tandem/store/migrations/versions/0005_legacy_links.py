"""Mark which audit entries may prove that a link was left behind by a delete.

Until this revision, a delete synced under the ``delete`` policy left the link of the two
keys in place. The engine drops such links (``tandem.store.legacy``) when it first syncs an
entity whose policy is ``delete``, on the evidence of the audit log; this revision marks the
entries that may serve as evidence, in the store-wide memo ``legacy_links``:

* ``last_id`` and ``last_at``: the newest entry now. Later entries were written by this
  release, which drops the link of a delete itself: a tombstone still linked since is a
  survivor of ``archive``.
* ``first_id``: the oldest entry written after the store was bound to its flow (memo
  ``owner_flow``). The release that began to bind stores began to audit a flag write as
  ``flag``; earlier ones audited it as ``delete``. ``None`` when the store was never bound.

No table changes. A store without audit entries (a new one) gets no memo.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from tandem.store.types import CodecJson, UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

STORE_WIDE = ""
"""The memo ``flow`` of what belongs to the store as a whole (``tandem.store.owner``)."""
OWNER = "owner_flow"
"""The memo naming the flow the store is bound to (``tandem.store.owner.OWNER``)."""
NAME = "legacy_links"
"""``tandem.store.legacy.BOUNDARY``."""

_audit = sa.table("tandem_audit", sa.column("id", sa.Integer), sa.column("at", UtcDateTime()))
_memo = sa.table(
    "tandem_memo",
    sa.column("flow", sa.String),
    sa.column("name", sa.String),
    sa.column("value", CodecJson()),
    sa.column("updated_at", UtcDateTime()),
)


def upgrade() -> None:
    """Keep the newest audit entry and the oldest one written since the store was bound."""
    conn = op.get_bind()
    last_id = conn.execute(sa.select(sa.func.max(_audit.c.id))).scalar()
    if last_id is None:
        return
    last_at = conn.execute(sa.select(_audit.c.at).where(_audit.c.id == last_id)).scalar_one()
    bound = conn.execute(
        sa.select(_memo.c.updated_at).where(_memo.c.flow == STORE_WIDE, _memo.c.name == OWNER)
    ).scalar()
    first_id = None
    if bound is not None:
        first_id = conn.execute(
            sa.select(sa.func.min(_audit.c.id)).where(_audit.c.at >= bound)
        ).scalar()
    conn.execute(sa.delete(_memo).where(_memo.c.flow == STORE_WIDE, _memo.c.name == NAME))
    conn.execute(
        sa.insert(_memo).values(
            flow=STORE_WIDE,
            name=NAME,
            value={"first_id": first_id, "last_id": int(last_id), "last_at": last_at},
            updated_at=datetime.now(UTC),
        )
    )


def downgrade() -> None:
    """Forget the mark."""
    conn = op.get_bind()
    conn.execute(sa.delete(_memo).where(_memo.c.flow == STORE_WIDE, _memo.c.name == NAME))
