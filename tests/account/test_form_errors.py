"""The account app's newsletter forms show every problem at once, each beside its field
(``_forms.html``), answer 4xx and change nothing: the public subscribe form and the desk's
newsletter and issue forms."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.factory import RoseQuart
from shared.models import Newsletter, NewsletterIssue, NewsletterSubscription
from tests.account.test_pages import app, newsletter, token_of
from tests.identity.factories import signed_in
from tests.support import errors_beside_fields

__all__ = ["app"]


async def test_the_subscribe_form_shows_its_problem_beside_the_address(
    app: RoseQuart, db: AsyncSession
) -> None:
    await newsletter(db)
    nid = await newsletter(db, "Events digest")  # two: the form offers a choice
    resp = await app.test_client().post(
        "/newsletters/subscribe", form={"email": "not an address", "newsletter": str(nid)}
    )
    assert resp.status_code == 400
    html = await resp.get_data(as_text=True)
    assert set(errors_beside_fields(html)) == {"sub-email"}
    assert 'value="not an address"' in html
    assert f'<option value="{nid}" selected>' in html  # the newsletter chosen stays chosen
    resp = await app.test_client().post(
        "/newsletters/subscribe", form={"email": "x@example.test", "newsletter": "abc"}
    )
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {"sub-newsletter"}
    assert await db.scalar(select(func.count()).select_from(NewsletterSubscription)) == 0


async def test_the_desks_forms_show_every_problem_beside_its_field(
    app: RoseQuart, db: AsyncSession
) -> None:
    staff = await signed_in(app, db, "willow", "editor")
    token = await token_of(staff, "/editor/newsletters/")
    nid = await newsletter(db)
    resp = await staff.post("/editor/newsletters/", form={"csrf_token": token, "name": "  "})
    assert resp.status_code == 400
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {"name"}
    resp = await staff.post(
        "/editor/newsletters/", form={"csrf_token": token, "name": "Weekly market"}
    )
    assert resp.status_code == 409  # a name in use: said beside the name
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {"name"}
    assert await db.scalar(select(func.count()).select_from(Newsletter)) == 1

    resp = await staff.post(
        f"/editor/newsletters/{nid}/issues",
        form={"csrf_token": token, "subject": "", "html": "<script>x</script>"},
    )
    assert resp.status_code == 400
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {"subject", "html"}
    assert await db.scalar(select(func.count()).select_from(NewsletterIssue)) == 0
