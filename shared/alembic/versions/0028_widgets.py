"""Widgets: the origins allowed to show the events widget, and the dashboard's widgets.

``event_embed_origins`` holds the partner websites (``https://host[:port]``) staff allow to
frame the events app's ``/embed/`` pages (``frame-ancestors``) or read them from a script
(CORS). ``dashboard_widgets`` holds the widgets staff chose for the members' dashboard, as
placeholders (``[widget:events/upcoming count=3]``), in order.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_embed_origins",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_embed_origins")),
        sa.UniqueConstraint("origin", name=op.f("uq_event_embed_origins_origin")),
    )
    op.create_table(
        "dashboard_widgets",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("placeholder", sa.String(length=300), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_widgets")),
    )


def downgrade() -> None:
    op.drop_table("dashboard_widgets")
    op.drop_table("event_embed_origins")
