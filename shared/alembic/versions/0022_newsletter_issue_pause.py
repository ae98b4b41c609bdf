"""Newsletter issues pause when the mail relay refuses messages in a row.

A relay that refuses every message (``554`` to DATA, ``550 5.7.1 Relaying denied`` to every
recipient) says nothing about the subscribers: such refusals leave them alone, and a run of
``newsletters.pause_after_refusals`` of them pauses the issue until staff resume it.
``newsletter_issues`` gains the status ``paused``, the length of the current run of refusals
and the last refusal's answer.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "newsletter_issues",
        sa.Column("refusals_in_a_row", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("newsletter_issues", sa.Column("paused_reason", sa.Text(), nullable=True))
    op.drop_constraint(
        op.f("ck_newsletter_issues_status_known"), "newsletter_issues", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_newsletter_issues_status_known"),
        "newsletter_issues",
        "status IN ('draft', 'sending', 'paused', 'sent')",
    )


def downgrade() -> None:
    op.execute("UPDATE newsletter_issues SET status = 'sending' WHERE status = 'paused'")
    op.drop_constraint(
        op.f("ck_newsletter_issues_status_known"), "newsletter_issues", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_newsletter_issues_status_known"),
        "newsletter_issues",
        "status IN ('draft', 'sending', 'sent')",
    )
    op.drop_column("newsletter_issues", "paused_reason")
    op.drop_column("newsletter_issues", "refusals_in_a_row")
