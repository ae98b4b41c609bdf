"""What the platform's own upkeep records: each backup `rose-ash backup` completed.

A row is written after the backup's directory is whole (shared/tooling/backup.py), so it is
never in the backup it describes; a backup that failed writes none. The worker's ``/metrics``
and federation's status page read the newest (shared/infrastructure/operations.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base


class BackupRun(Base):
    __tablename__ = "backup_runs"
    __table_args__ = (Index("ix_backup_runs_finished_at", "finished_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The backup's directory name (rose-ash-<UTC time>).
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    # The dump and every media file together.
    total_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    schema_revision: Mapped[str] = mapped_column(String(32), nullable=False)
