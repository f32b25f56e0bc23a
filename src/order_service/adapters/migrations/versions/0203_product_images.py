"""A product may name its photo: the id of an uploaded image (images live in the blob store).

Revision ID: 0203
Revises: 0202
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0203"
down_revision = "0202"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No foreign key: image metadata is not a table but a document beside the bytes in the
    # blob store, so the catalogue checks the image exists when the link is made.
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("image_id", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.drop_column("image_id")
