"""chat targets: the chat a private chat's commands manage (/target)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 00:27:40.914759

Plain ALTER TABLE, not batch mode: batch mode rebuilds `chats` on SQLite, and dropping the
old table there (foreign keys on) cascades into every follow, alias and alert. SQLite
adds and (since 3.35) drops a column in place.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("chats", sa.Column("target_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("chats", "target_id")
