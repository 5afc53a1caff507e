"""chat holds after a 429, and stories first seen by a source's silent first poll

Revision ID: 0009
Revises: 0008

Plain ALTER TABLE, not batch mode: batch mode rebuilds `chats` and `articles` on SQLite,
and dropping the old tables there (foreign keys on) cascades into follows and alerts.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.models import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("chats", sa.Column("hold_until", UTCDateTime(timezone=True), nullable=True))
    op.add_column(
        "articles",
        sa.Column("announced", sa.Boolean(), server_default=sa.true(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("articles", "announced")
    op.drop_column("chats", "hold_until")
