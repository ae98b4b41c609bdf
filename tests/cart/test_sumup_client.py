"""The SumUp client against the stand-in, which speaks SumUp's contract (EXTERNAL-APIS.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from shared.config import ConfigError
from shared.contracts import Money
from shared.services.cart.sumup import SumUpClient, SumUpRefused, SumUpUnavailable, to_minor
from shared.services.cart.sumup_standin import SumUpStandIn, refuse_in_production
from tests.support import GUARD_S, closed_port, refusing_port
from tests.support.live import serve_app
from tests.support.settings import make_settings


@pytest.fixture
async def standin() -> AsyncIterator[SumUpStandIn]:
    server = SumUpStandIn(retry_delays_s=(0.1, 0.2))
    await server.start()
    yield server
    await server.stop()


def client_for(standin: SumUpStandIn, **kw: str) -> SumUpClient:
    return SumUpClient(
        standin.url,
        kw.get("api_key", standin.api_key),
        kw.get("merchant_code", standin.merchant_code),
        # The stand-in answers every case itself (its outage is a 503): no answer here may be
        # taken for a timeout, however loaded the machine.
        timeout_s=GUARD_S,
    )


async def test_create_then_a_duplicate_reference_recovers_the_same_checkout(
    standin: SumUpStandIn,
) -> None:
    client = client_for(standin)
    first = await client.create_checkout(
        "1001",
        Money(1250, "GBP"),
        description="Order 1001",
        return_url="http://127.0.0.1:1/hook",
        redirect_url="http://127.0.0.1:1/back",
    )
    assert first.status == "PENDING"
    assert first.amount == Money(1250, "GBP")
    assert first.hosted_url == f"{standin.url}/pay/c-{first.id}"
    # The amount crossed the wire as an exact decimal number.
    assert standin.checkouts[first.id].amount == Decimal("12.50")
    again = await client.create_checkout(
        "1001",
        Money(1250, "GBP"),
        description="Order 1001",
        return_url="http://127.0.0.1:1/hook",
        redirect_url="http://127.0.0.1:1/back",
    )
    assert again.id == first.id
    assert len(standin.checkouts) == 1


async def test_the_hosted_page_is_answered_as_sumup_documents_it(standin: SumUpStandIn) -> None:
    """SumUp answers ``hosted_checkout`` as sent and ``hosted_checkout_url`` only to a create
    with ``hosted_checkout: {"enabled": true}``; the page is ``/pay/c-<checkout id>``."""
    base = {"amount": 5, "currency": "GBP", "merchant_code": standin.merchant_code}
    headers = {"Authorization": f"Bearer {standin.api_key}"}
    async with httpx.AsyncClient(base_url=standin.url, headers=headers) as http:
        plain = await http.post("/v0.1/checkouts", json={**base, "checkout_reference": "a"})
        assert plain.status_code == 201
        assert "hosted_checkout_url" not in plain.json()
        assert "hosted_checkout" not in plain.json()
        assert (await http.get(f"/pay/c-{plain.json()['id']}")).status_code == 404
        made = await http.post(
            "/v0.1/checkouts",
            json={**base, "checkout_reference": "b", "hosted_checkout": {"enabled": True}},
        )
        body = made.json()
        assert body["hosted_checkout"] == {"enabled": True}
        assert body["hosted_checkout_url"] == f"{standin.url}/pay/c-{body['id']}"
        assert (await http.get(body["hosted_checkout_url"])).status_code == 200
        assert (await http.get(f"/pay/{body['id']}")).status_code == 404
        bad = await http.post(
            "/v0.1/checkouts", json={**base, "checkout_reference": "c", "hosted_checkout": True}
        )
        assert (bad.status_code, bad.json()["param"]) == (400, "hosted_checkout")


async def test_a_hosted_page_off_sumups_origins_is_never_followed() -> None:
    """The buyer is redirected to ``hosted_checkout_url``: only SumUp's checkout origin (or
    the API's own, where the stand-in serves it) is kept."""

    def answer(url: str) -> httpx.MockTransport:
        body = {
            "id": "c1",
            "checkout_reference": "1",
            "amount": 1,
            "currency": "GBP",
            "status": "PENDING",
            "hosted_checkout_url": url,
        }
        return httpx.MockTransport(lambda request: httpx.Response(201, json=body))

    async def hosted(url: str) -> str:
        client = SumUpClient("https://api.sumup.com", "k", "m", transport=answer(url))
        made = await client.create_checkout(
            "1", Money(100, "GBP"), description="", return_url="", redirect_url=""
        )
        return made.hosted_url

    sumup_page = "https://checkout.sumup.com/pay/c-c1"
    assert await hosted(sumup_page) == sumup_page
    assert await hosted("https://api.sumup.com/pay/c-c1") == "https://api.sumup.com/pay/c-c1"
    assert await hosted("https://elsewhere.example/pay/c-c1") == ""
    assert await hosted("javascript:alert(1)") == ""


async def test_reads_unknown_ids_bad_keys_and_outages(standin: SumUpStandIn) -> None:
    client = client_for(standin)
    assert await client.checkout("no-such-checkout") is None
    assert await client.checkout("../v0.1/checkouts") is None
    with pytest.raises(SumUpRefused) as refused:
        await client_for(standin, api_key="wrong").checkout("x")
    assert refused.value.status == 401
    with pytest.raises(SumUpRefused) as refused:
        await client_for(standin, merchant_code="MOTHER").create_checkout(
            "1", Money(100, "GBP"), description="", return_url="", redirect_url=""
        )
    assert refused.value.status == 403
    standin.down = True
    with pytest.raises(SumUpUnavailable):
        await client.checkout("x")
    down = SumUpClient(f"http://127.0.0.1:{refusing_port()}", "k", "m", timeout_s=1)
    with pytest.raises(SumUpUnavailable):
        await down.checkout("x")


async def test_paid_checkouts_carry_a_successful_transaction_and_refunds_are_per_transaction(
    standin: SumUpStandIn,
) -> None:
    client = client_for(standin)
    made = await client.create_checkout(
        "2002", Money(900, "GBP"), description="", return_url="", redirect_url=""
    )
    standin.mark_paid(made.id, notify=False)
    paid = await client.checkout(made.id)
    assert paid is not None
    tx = paid.successful_payment()
    assert tx is not None
    assert tx.amount == Money(900, "GBP")
    assert paid.transaction_id == tx.id
    await client.refund(tx.id, Money(400, "GBP"))
    await client.refund(tx.id, Money(500, "GBP"))
    with pytest.raises(SumUpRefused):
        await client.refund(tx.id, Money(1, "GBP"))
    assert sum(r["amount"] for r in standin.refunds) == Decimal("9.00")


async def test_webhooks_are_retried_until_answered(standin: SumUpStandIn) -> None:
    answers = iter([500, 503, 200])
    seen: list[dict[str, str]] = []

    from quart import Quart, request

    receiver = Quart("receiver")

    @receiver.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"app": receiver.name}  # serve_app knows its own server by this

    @receiver.post("/hook")
    async def receive() -> tuple[str, int]:
        seen.append(await request.get_json())
        return "", next(answers)

    port = closed_port()
    live = await serve_app(receiver, port)  # type: ignore[arg-type]
    try:
        checkout = standin.create("3003", Decimal("1.00"), "GBP", return_url=f"{live.url}/hook")
        standin.mark_paid(checkout.id)
        await standin.delivered()
    finally:
        await live.stop()
    assert seen == [{"event_type": "CHECKOUT_STATUS_CHANGED", "id": checkout.id}] * 3
    assert [status for _url, status in standin.webhooks] == [500, 503, 200]


def test_to_minor_is_exact_or_nothing() -> None:
    assert to_minor(12.5, "GBP") == Money(1250, "GBP")
    assert to_minor("0.10", "GBP") == Money(10, "GBP")
    assert to_minor(1.005, "GBP") is None
    assert to_minor("abc", "GBP") is None
    assert to_minor(True, "GBP") is None
    assert to_minor(1, "gbp") is None


def test_production_refuses_the_stand_in(database_url: str, redis_url: str) -> None:
    with pytest.raises(ConfigError, match=r"sumup\.base_url"):
        make_settings(
            database_url,
            redis_url,
            ROSE_ENVIRONMENT="production",
            ROSE_COOKIE_SECURE="true",
            ROSE_SMTP__HOST="smtp.rose-ash.test",
            ROSE_SUMUP__BASE_URL="http://127.0.0.1:8009",
        )
    refuse_in_production(make_settings(database_url, redis_url))
    settings = make_settings(database_url, redis_url)
    object.__setattr__(settings, "environment", "production")
    with pytest.raises(ConfigError, match="stand-in"):
        refuse_in_production(settings)
