"""what a source's last poll read: body digest, item fingerprints, <ttl>

Revision ID: 0011
Revises: 0010

They were kept in the memory of the process that polled, so a source polled next by
another process (POLL_PROCESSES) or after a restart had every item read again: half the
polls with two processes. Stored with the source, every process skips what was read.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sources", sa.Column("body_digest", sa.LargeBinary(), nullable=True))
    op.add_column("sources", sa.Column("seen_items", sa.LargeBinary(), nullable=True))
    op.add_column("sources", sa.Column("feed_ttl", sa.Float(), nullable=True))


def downgrade() -> None:
    for column in ("feed_ttl", "seen_items", "body_digest"):
        op.drop_column("sources", column)
