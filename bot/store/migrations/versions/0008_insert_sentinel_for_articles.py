"""insert sentinel for articles

Plain ALTER TABLE, not batch mode: batch mode rebuilds `articles` on SQLite, and dropping
the old table there (foreign keys on) cascades into story keys, alerts and coverage.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 00:45:50.026233
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("articles", sa.Column("_sentinel", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("articles", "_sentinel")
