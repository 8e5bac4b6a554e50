"""the generation request cache: one answer per fully rendered request

A generation run stores each completed answer under the sha256 of the request it answered (the
backend's identity, model, messages, parameters and schema), in the same transaction as the
records made from it. A run started again after a crash, or another recipe asking the same
thing, reads the answer here instead of paying for it twice.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "generation_cache",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("completion", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("key", name="pk_generation_cache"),
    )


def downgrade() -> None:
    op.drop_table("generation_cache")
