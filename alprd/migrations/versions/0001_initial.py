"""Initial schema: cameras, plate_events (one row per plate.final), plate_reads (optional log).

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Frozen: describes the schema as of this revision, independent of alprd.sinks.schema's current
tables (later revisions change those; this file never changes).
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _utc():
    return sa.DateTime(timezone=True)


def _plate():
    return sa.String(32).with_variant(sa.String(32, collation="C"), "postgresql")


def _big_id():
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cameras",
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("camera_id", name="pk_cameras"),
    )
    op.create_table(
        "plate_events",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("plate", _plate(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("alternatives", sa.JSON(), nullable=False),
        sa.Column("reads", sa.Integer(), nullable=False),
        sa.Column("first_seen", _utc(), nullable=False),
        sa.Column("last_seen", _utc(), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("parked", sa.Boolean(), nullable=False),
        sa.Column("crop_path", sa.Text(), nullable=True),
        sa.Column("corners", sa.JSON(), nullable=True),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plate_events"),
        sa.UniqueConstraint("event_id", name="uq_plate_events_event_id"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.camera_id"],
                                name="fk_plate_events_camera_id_cameras"),
    )
    op.create_index("ix_plate_events_plate", "plate_events", ["plate"])
    op.create_index("ix_plate_events_camera_id_last_seen", "plate_events", ["camera_id", "last_seen"])
    op.create_index("ix_plate_events_last_seen", "plate_events", ["last_seen"])
    op.create_table(
        "plate_reads",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("plate", _plate(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("reads", sa.Integer(), nullable=False),
        sa.Column("seen_at", _utc(), nullable=False),
        sa.Column("corners", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_plate_reads"),
        sa.UniqueConstraint("event_id", name="uq_plate_reads_event_id"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.camera_id"],
                                name="fk_plate_reads_camera_id_cameras"),
    )
    op.create_index("ix_plate_reads_camera_id_track_id", "plate_reads", ["camera_id", "track_id"])
    op.create_index("ix_plate_reads_seen_at", "plate_reads", ["seen_at"])


def downgrade() -> None:
    op.drop_table("plate_reads")
    op.drop_table("plate_events")
    op.drop_table("cameras")
