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


class InvalidField(DomainError):
    """Bad input in one field of a form; ``field`` names it (see :class:`FieldErrors`)."""

    def __init__(self, code: str, message: str, field: str, *, status: int | None = None) -> None:
        super().__init__(code, message, status=status)
        self.field = field


class CommandError(Exception):
    """A command could not do what was asked; the message is one line for a person
    (``rose-ash`` prints it and exits with status 2)."""


class FieldErrors:
    """Every field of a form checked before any is reported: each check runs in
    ``with checks:``, and a refusal naming its ``field`` is noted there (the block is left,
    the next goes on); ``raise_if_any()`` then raises the first refusal carrying all of them
    as ``errors`` (field -> message), which ``_forms.html`` shows each beside its field.

    A refusal without a field (an event not found, a conflict) is not about one field: it
    goes straight through."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}
        self.first: DomainError | None = None

    def __enter__(self) -> FieldErrors:
        return self

    def __exit__(self, kind: object, err: BaseException | None, tb: object) -> bool:
        name = getattr(err, "field", None)
        if not isinstance(err, DomainError) or not isinstance(name, str) or not name:
            return False
        self.errors.setdefault(name, err.message)
        if self.first is None:
            self.first = err
        return True

    def note(self, err: DomainError) -> None:
        """A refusal found outside a ``with`` block, noted the same way."""
        with self:
            raise err

    def refused(self, err: DomainError) -> DomainError:
        """The refusal to show after ``err`` ended the work: the first one noted (else
        ``err``), carrying every problem noted and ``err``'s own."""
        for name, message in field_errors(err).items():
            self.errors.setdefault(name, message)
        shown = self.first or err
        shown.errors = dict(self.errors)  # type: ignore[attr-defined]
        return shown

    def raise_if_any(self) -> None:
        if self.first is not None:
            self.first.errors = dict(self.errors)  # type: ignore[attr-defined]
            raise self.first


def field_errors(err: BaseException | None) -> dict[str, str]:
    """What a refused form shows beside its fields (``_forms.html``'s ``errors``): the
    refusal's ``errors`` (every problem at once), else its one ``field``'s message, else
    nothing (a refusal of the whole form shows only at the top)."""
    errors = getattr(err, "errors", None)
    if isinstance(errors, dict) and errors:
        return {str(k): str(v) for k, v in errors.items()}
    name = getattr(err, "field", None)
    if isinstance(err, DomainError) and isinstance(name, str) and name:
        return {name: err.message}
    return {}
