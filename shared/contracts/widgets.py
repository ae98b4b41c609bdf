"""Widgets: one app's content placed in another's pages (a post, a market page, the dashboard).

A widget has a type (``events/upcoming``), the parameters it takes (each of a known kind,
validated before anything is fetched), the fragment that renders it, that fragment's cache life
and whether it varies per member. Each domain declares the widgets its app provides in its
``domain.py`` (``Domain.widgets``); ``shared.services.registry.WIDGETS`` lists them all.

A page holds a widget as a placeholder, a paragraph of its own (what the editors write)::

    [widget:events/upcoming calendar=workshops count=3]

:func:`parse_placeholder` reads one; :meth:`WidgetType.validate` checks its parameters and
raises :class:`WidgetError` (a clear 400) for an unknown parameter or a bad value, so a
placement the editor refuses never reaches a page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from shared.errors import DomainError

ParamKind = Literal["calendar", "tag", "count", "product", "category", "event"]

# A slug: what calendars, tags, products, categories and events are named by.
_SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"
_SLUG_RE = re.compile(rf"^{_SLUG}$")
_SLUG_MAX = 180
# A widget's type: ``<app>/<fragment type>``.
_TYPE = r"[a-z]+/[a-z][a-z0-9-]{0,39}"
# The placeholder's text (its parameters are read by parse_placeholder).
PLACEHOLDER = re.compile(rf"\[widget:({_TYPE})((?: +[a-z]+=[a-z0-9-]{{1,180}}){{0,6}})\]")
# A paragraph holding only a placeholder, as the sanitizer leaves it.
PLACEHOLDER_PARAGRAPH = re.compile(rf"<p>\s*{PLACEHOLDER.pattern}\s*</p>")


class WidgetError(DomainError):
    """A widget placement that cannot be shown: unknown type, parameter or a bad value."""

    status = 400


@dataclass(frozen=True)
class WidgetParam:
    """One parameter: its name in the placeholder, its kind, and its bounds."""

    name: str
    kind: ParamKind
    required: bool = False
    # For a count: the largest accepted (the smallest is 1).
    maximum: int = 12

    def check(self, value: str) -> str:
        """``value`` if it is one of this kind, else :class:`WidgetError`."""
        if self.kind == "count":
            if not value.isdigit() or not 1 <= int(value) <= self.maximum:
                raise WidgetError(
                    "bad_widget_parameter",
                    f"{self.name} must be a whole number from 1 to {self.maximum}.",
                )
            return str(int(value))
        if len(value) > _SLUG_MAX or not _SLUG_RE.match(value):
            raise WidgetError(
                "bad_widget_parameter",
                f"{self.name} must be a {self.kind}'s slug (lower-case letters, digits, hyphens).",
            )
        return value


@dataclass(frozen=True)
class WidgetType:
    """A kind of widget an app provides."""

    # ``<app>/<name>``, e.g. ``events/upcoming``.
    type: str
    # What an editor is shown when choosing it ("Upcoming events").
    label: str
    # The fragment that renders it (``<app>/<type>``), given the validated parameters.
    fragment: str
    params: tuple[WidgetParam, ...] = ()
    # The fragment's cache life and whether it varies per member (as its FragmentSet says).
    ttl_s: int = 300
    per_member: bool = False

    @property
    def app(self) -> str:
        return self.type.partition("/")[0]

    def validate(self, raw: Mapping[str, str]) -> dict[str, str]:
        """The parameters, checked: unknown names, missing required ones and bad values are
        refused with :class:`WidgetError`."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise WidgetError(
                "unknown_widget_parameter",
                f"The {self.label} widget takes no {unknown[0]!r}"
                f" (it takes: {', '.join(known) or 'nothing'}).",
            )
        checked: dict[str, str] = {}
        for param in self.params:
            value = raw.get(param.name, "")
            if value:
                checked[param.name] = param.check(value)
            elif param.required:
                raise WidgetError(
                    "missing_widget_parameter", f"The {self.label} widget needs a {param.name}."
                )
        return checked

    def placeholder(self, params: Mapping[str, str]) -> str:
        """The placeholder text placing this widget with ``params`` (validated)."""
        checked = self.validate(params)
        args = "".join(f" {name}={value}" for name, value in checked.items())
        return f"[widget:{self.type}{args}]"


@dataclass(frozen=True)
class Placement:
    """A widget placed in a page: its type and validated parameters."""

    widget: WidgetType
    params: tuple[tuple[str, str], ...]

    @property
    def slot(self) -> str:
        """The name the page's fragments are fetched under (one per distinct placement)."""
        args = "".join(f";{k}={v}" for k, v in self.params)
        return f"widget:{self.widget.type}{args}"


def parse_placeholder(text: str, catalogue: Mapping[str, WidgetType]) -> Placement:
    """The placement ``text`` (``[widget:type k=v …]``) names, checked against ``catalogue``;
    :class:`WidgetError` when it is not a widget there or its parameters are bad."""
    match = PLACEHOLDER.fullmatch(text.strip())
    if match is None:
        raise WidgetError("bad_widget", f"Not a widget placeholder: {text[:60]!r}.")
    return placement_of(match.group(1), match.group(2), catalogue)


def placement_of(type: str, args: str, catalogue: Mapping[str, WidgetType]) -> Placement:
    """The placement of widget ``type`` with ``args`` (`` k=v k=v``) as a placeholder writes
    them, checked against ``catalogue``."""
    widget = catalogue.get(type)
    if widget is None:
        raise WidgetError("unknown_widget", f"There is no widget {type!r}.")
    raw: dict[str, str] = {}
    for pair in args.split():
        name, _, value = pair.partition("=")
        if name in raw:
            raise WidgetError("bad_widget_parameter", f"{name} is given twice.")
        raw[name] = value
    return Placement(widget, tuple(sorted(widget.validate(raw).items())))


def placements(html: str, catalogue: Mapping[str, WidgetType]) -> list[Placement]:
    """Every widget placeholder paragraph in ``html``, in order, each once; a bad one raises
    :class:`WidgetError` (editors are refused it when they save)."""
    found: dict[str, Placement] = {}
    for match in PLACEHOLDER_PARAGRAPH.finditer(html):
        placement = placement_of(match.group(1), match.group(2), catalogue)
        found.setdefault(placement.slot, placement)
    return list(found.values())
