"""dataset versions: tag, guidelines hash, counts by source, and the frozen records

A version freezes a dataset's accepted records. Each record is copied as JSON into
`version_records`, in the store itself rather than a file beside it (a PostgreSQL store has no
folder), so editing a live record later never changes what a version holds. The version row
gains an optional unique tag, the sha256 of the guidelines it was made under, and its record
counts by source.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("versions") as batch_op:
        batch_op.add_column(sa.Column("tag", sa.String(200), nullable=True))
        batch_op.add_column(
            sa.Column("guidelines_hash", sa.String(64), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("counts", JSON, nullable=True))
    op.create_index("ix_versions_dataset_id_tag", "versions", ["dataset_id", "tag"], unique=True)
    op.create_table(
        "version_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(500), nullable=False),
        sa.Column("record", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["versions.id"],
            name="fk_version_records_version_id_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_version_records"),
        sa.UniqueConstraint(
            "version_id", "external_id", name="uq_version_records_version_id_external_id"
        ),
    )


def downgrade() -> None:
    op.drop_table("version_records")
    op.drop_index("ix_versions_dataset_id_tag", table_name="versions")
    with op.batch_alter_table("versions") as batch_op:
        batch_op.drop_column("counts")
        batch_op.drop_column("guidelines_hash")
        batch_op.drop_column("tag")
