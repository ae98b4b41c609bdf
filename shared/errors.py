"""Domain errors carry a stable machine ``code`` and a message a person can read; a command's
error (:class:`CommandError`) is one line `rose-ash` prints.

Services raise them; each app's error handler turns them into an HTML page, a form
error or JSON. Tests assert on ``code``, never on the wording.
"""

from __future__ import annotations


class DomainError(Exception):
    """A refusal a person can understand: bad input, a missing object, a conflict."""

    status = 400

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Forbidden(DomainError):
    status = 403


class CommandError(Exception):
    """A command could not do what was asked; the message is one line for a person
    (``rose-ash`` prints it and exits with status 2)."""
