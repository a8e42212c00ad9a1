"""Parking: plate lists and their entries, list matches, visits; plate_events.travel.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

Frozen: describes the schema as of this revision (alprd.sinks.schema may change later; this
file never does).
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
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
        "plate_lists",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("max_distance", sa.Float(), nullable=False),
        sa.Column("cameras", sa.JSON(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plate_lists"),
        sa.UniqueConstraint("name", name="uq_plate_lists_name"),
        sa.CheckConstraint("kind IN ('allow', 'deny', 'watch')", name="ck_plate_lists_kind"),
    )
    op.create_table(
        "plate_list_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("plate", _plate(), nullable=False),
        sa.Column("label", sa.String(255), nullable=True),
        sa.Column("valid_from", _utc(), nullable=True),
        sa.Column("valid_until", _utc(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plate_list_entries"),
        sa.UniqueConstraint("list_id", "plate", name="uq_plate_list_entries_list_id_plate"),
        sa.ForeignKeyConstraint(["list_id"], ["plate_lists.id"], ondelete="CASCADE",
                                name="fk_plate_list_entries_list_id_plate_lists"),
    )
    op.create_table(
        "plate_matches",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("read", _plate(), nullable=False),
        sa.Column("list_name", sa.String(64), nullable=False),
        sa.Column("list_kind", sa.String(8), nullable=False),
        sa.Column("entry_plate", _plate(), nullable=False),
        sa.Column("entry_label", sa.String(255), nullable=True),
        sa.Column("distance", sa.Float(), nullable=False),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source_event_id", sa.String(36), nullable=False),
        sa.Column("seen_at", _utc(), nullable=False),
        sa.Column("travel", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plate_matches"),
        sa.UniqueConstraint("event_id", name="uq_plate_matches_event_id"),
    )
    op.create_index("ix_plate_matches_seen_at", "plate_matches", ["seen_at"])
    op.create_index("ix_plate_matches_list_name_seen_at", "plate_matches", ["list_name", "seen_at"])
    op.create_table(
        "visits",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("visit_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("plate", _plate(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("entered_at", _utc(), nullable=True),
        sa.Column("entry_camera", sa.String(64), nullable=True),
        sa.Column("entry_event_id", sa.String(36), nullable=True),
        sa.Column("exit_plate", _plate(), nullable=True),
        sa.Column("exited_at", _utc(), nullable=True),
        sa.Column("exit_camera", sa.String(64), nullable=True),
        sa.Column("exit_event_id", sa.String(36), nullable=True),
        sa.Column("dwell_s", sa.Float(), nullable=True),
        sa.Column("distance", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(24), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_visits"),
        sa.UniqueConstraint("visit_id", name="uq_visits_visit_id"),
    )
    op.create_index("ix_visits_site_status", "visits", ["site", "status"])
    op.create_index("ix_visits_plate", "visits", ["plate"])
    op.create_index("ix_visits_entered_at", "visits", ["entered_at"])
    with op.batch_alter_table("plate_events") as batch:
        batch.add_column(sa.Column("travel", sa.String(8), nullable=False, server_default="unknown"))


def downgrade() -> None:
    with op.batch_alter_table("plate_events") as batch:
        batch.drop_column("travel")
    op.drop_table("visits")
    op.drop_table("plate_matches")
    op.drop_table("plate_list_entries")
    op.drop_table("plate_lists")
