"""The widget contract: what each app declares, the registry's list, parameters validated,
placeholders found in a body and kept by the sanitizer."""

from __future__ import annotations

import importlib

import pytest

from shared.contracts import WidgetError, parse_placeholder, placements
from shared.infrastructure.fragments import provided_fragments
from shared.infrastructure.sanitize import link_products, sanitize_html
from shared.services.registry import DOMAINS, WIDGETS
from tests.support.settings import make_settings


def test_the_registry_lists_every_widget_each_domain_declares() -> None:
    declared = [w.type for d in DOMAINS for w in d.widgets]
    assert len(declared) == len(set(declared))
    assert (
        sorted(WIDGETS)
        == sorted(declared)
        == sorted(
            [
                "blog/latest",
                "events/calendar-month",
                "events/event-card",
                "events/upcoming",
                "market/category",
                "market/featured",
                "market/product-card",
            ]
        )
    )


@pytest.mark.parametrize("app_name", ["blog", "market", "events"])
def test_each_widget_is_a_fragment_its_app_provides_as_declared(
    app_name: str, database_url: str, redis_url: str
) -> None:
    app = importlib.import_module(f"{app_name}.app").create_app(
        make_settings(database_url, redis_url)
    )
    provided = provided_fragments(app)
    assert provided is not None
    for widget in (w for w in WIDGETS.values() if w.app == app_name):
        spec = provided.specs[widget.fragment.partition("/")[2]]
        assert (spec.ttl_s, spec.per_user) == (widget.ttl_s, widget.per_member), widget.type


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("[widget:events/nothing]", "unknown_widget"),
        ("[widget:events/upcoming colour=red]", "unknown_widget_parameter"),
        ("[widget:events/upcoming count=0]", "bad_widget_parameter"),
        ("[widget:events/upcoming count=21]", "bad_widget_parameter"),
        ("[widget:events/upcoming count=three]", "bad_widget_parameter"),
        ("[widget:events/upcoming tag=Tastings]", "bad_widget"),
        ("[widget:events/upcoming tag=-x]", "bad_widget_parameter"),
        ("[widget:events/upcoming count=2 count=3]", "bad_widget_parameter"),
        ("[widget:events/event-card]", "missing_widget_parameter"),
        ("[widget:market/category count=2]", "missing_widget_parameter"),
        ("[widget:events/upcoming", "bad_widget"),
    ],
)
def test_bad_placements_are_refused_with_a_clear_400(text: str, code: str) -> None:
    with pytest.raises(WidgetError) as refused:
        parse_placeholder(text, WIDGETS)
    assert refused.value.code == code
    assert refused.value.status == 400
    assert refused.value.message


def test_a_good_placement_names_its_fragment_and_checked_parameters() -> None:
    placement = parse_placeholder("[widget:events/upcoming tag=tastings count=03]", WIDGETS)
    assert placement.widget.fragment == "events/upcoming"
    assert placement.params == (("count", "3"), ("tag", "tastings"))
    assert placement.slot == "widget:events/upcoming;count=3;tag=tastings"
    card = WIDGETS["events/event-card"]
    assert card.placeholder({"event": "winter-concert"}) == (
        "[widget:events/event-card event=winter-concert]"
    )


def test_a_body_places_its_widgets_in_order_each_once() -> None:
    html = (
        "<p>[widget:events/calendar-month]</p><p>Text [widget:blog/latest] in a sentence</p>"
        "<p>[widget:market/featured count=2]</p><p> [widget:events/calendar-month] </p>"
    )
    assert [(p.widget.type, p.params) for p in placements(html, WIDGETS)] == [
        ("events/calendar-month", ()),
        ("market/featured", (("count", "2"),)),
    ]
    with pytest.raises(WidgetError):
        placements(html + "<p>[widget:market/nothing]</p>", WIDGETS)


def test_the_sanitizer_keeps_a_placeholder_and_feeds_drop_it() -> None:
    body = "<p>Hello</p><p>[widget:events/upcoming tag=tastings count=3]</p>"
    assert sanitize_html(body) == body
    # Wrapped in markup a stranger chose, it is text in a paragraph like any other.
    assert (
        sanitize_html('<p onclick="x()">[widget:blog/latest]</p>') == "<p>[widget:blog/latest]</p>"
    )
    assert link_products(body, "http://market.test") == "<p>Hello</p>"
