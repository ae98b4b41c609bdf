"""Every staff page of the six apps, in one list: the staff menu in every app's header
(``account/menu``) and the admin home (federation's ``/admin/``, open to all staff) both show
it, each entry to the members whose roles allow it (admins hold every role)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.contracts import UserDTO


@dataclass(frozen=True)
class StaffPage:
    app: str
    path: str
    title: str
    what: str
    role: str  # "editor" or "admin"

    def url(self, app_urls: Mapping[str, str]) -> str:
        return app_urls[self.app] + self.path


STAFF_PAGES = (
    StaffPage("blog", "/editor/", "Posts and pages", "Write, schedule and publish.", "editor"),
    StaffPage(
        "blog", "/editor/navigation", "Site navigation", "The menu every app shows.", "editor"
    ),
    StaffPage(
        "market",
        "/editor/",
        "Market",
        "Products, stock, suppliers, categories and market pages.",
        "editor",
    ),
    StaffPage(
        "market",
        "/editor/scrape/",
        "Supplier catalogues",
        "Import products from suppliers' sites.",
        "editor",
    ),
    StaffPage(
        "events",
        "/editor/",
        "Events",
        "Calendars, events, repeats and ticket types.",
        "editor",
    ),
    StaffPage("events", "/editor/check-in", "Check-in", "Scan tickets at the door.", "editor"),
    StaffPage(
        "events",
        "/editor/embed/",
        "Events widget for other websites",
        "Which websites may show it; the snippet to copy.",
        "editor",
    ),
    StaffPage(
        "account",
        "/editor/newsletters/",
        "Newsletters",
        "Write and send issues; subscribers.",
        "editor",
    ),
    StaffPage(
        "account",
        "/editor/dashboard/",
        "Dashboard widgets",
        "What members see on their account page.",
        "editor",
    ),
    StaffPage("cart", "/admin/orders", "Orders", "Mark fulfilled, cancel, refund.", "admin"),
    StaffPage("federation", "/admin/users", "Accounts and roles", "Who is staff.", "admin"),
    StaffPage(
        "federation",
        "/admin/tools",
        "Tools that sign members in",
        "Forums, wikis, chats: OpenID Connect clients.",
        "admin",
    ),
    StaffPage(
        "federation",
        "/editor/social/reactions",
        "Fediverse reactions",
        "Likes, boosts and replies to the cooperative's posts, events and products.",
        "editor",
    ),
    StaffPage(
        "federation",
        "/admin/social/",
        "Social hub moderation",
        "Reports, accounts and blocked domains.",
        "admin",
    ),
    StaffPage(
        "federation",
        "/admin/federation/",
        "Fediverse deliveries",
        "What is waiting, failing or dead; retry.",
        "admin",
    ),
    StaffPage(
        "federation",
        "/admin/status",
        "Platform status",
        "Queues, the last Ghost sync and scrapes, and whether each app is ready.",
        "admin",
    ),
)

# The admin home (federation), for all staff: it lists what their roles allow.
ADMIN_HOME = StaffPage("federation", "/admin/", "Admin home", "Everything staff can do.", "editor")


def staff_pages_for(user: UserDTO | None) -> list[StaffPage]:
    """The staff pages ``user`` may open (none for members and visitors)."""
    if user is None:
        return []
    return [page for page in STAFF_PAGES if user.has_role(page.role)]
