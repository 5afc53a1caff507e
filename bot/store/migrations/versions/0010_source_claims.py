"""source claims: the process polling a source holds it until its poll ends

Revision ID: 0010
Revises: 0009

Several processes poll one database (POLL_PROCESSES, `newsbot poll`); a process claims a
due source before polling it, so that no other polls it meanwhile. Claims look for due
sources by their next poll time, through an index (PostgreSQL's plan reads only the due
ones with it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.models import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sources", sa.Column("claimed_until", UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_sources_next_poll", "sources", ["next_poll_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_sources_next_poll", table_name="sources")
    op.drop_column("sources", "claimed_until")
