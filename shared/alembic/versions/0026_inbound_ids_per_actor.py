"""Inbound activity ids are remembered per sending actor.

``ap_inbound_activities`` was unique on ``uri`` alone, so an actor on one host could claim an
id on another host first and make that host's genuine activity look like a duplicate. The
inbox now refuses an activity whose id is not on its actor's host, and the duplicate check is
keyed on (``actor_uri``, ``uri``).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(
        op.f("uq_ap_inbound_activities_uri"), "ap_inbound_activities", type_="unique"
    )
    op.create_unique_constraint(
        op.f("uq_ap_inbound_activities_actor_uri"),
        "ap_inbound_activities",
        ["actor_uri", "uri"],
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("uq_ap_inbound_activities_actor_uri"), "ap_inbound_activities", type_="unique"
    )
    # Keep the oldest of each id so the old constraint can return.
    op.execute(
        "DELETE FROM ap_inbound_activities a USING ap_inbound_activities b "
        "WHERE a.uri = b.uri AND a.id > b.id"
    )
    op.create_unique_constraint(
        op.f("uq_ap_inbound_activities_uri"), "ap_inbound_activities", ["uri"]
    )
