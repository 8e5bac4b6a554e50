"""the queue's order as an index: records by (dataset_id, status, priority desc, id)

Leasing asks for a dataset's best queued record with room: the highest priority, then the lowest
id. With only (dataset_id, status) indexed, the database checked and sorted every queued record
of the dataset on each lease; in this order it walks from the best and stops at the first
record with room. The new index starts with (dataset_id, status), so it replaces that one.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_records_queue_order",
        "records",
        ["dataset_id", "status", sa.text("priority DESC"), "id"],
        unique=False,
    )
    op.drop_index("ix_records_dataset_id_status", table_name="records")


def downgrade() -> None:
    op.create_index("ix_records_dataset_id_status", "records", ["dataset_id", "status"])
    op.drop_index("ix_records_queue_order", table_name="records")
