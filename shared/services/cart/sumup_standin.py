"""A SumUp stand-in: the part of SumUp's API the cart uses, on loopback, taking no money.

It speaks the contract in docs/EXTERNAL-APIS.md: ``POST /v0.1/checkouts`` (201, 400 with
``error_code``/``param``, 401 without the right bearer key, 403 for another merchant, 409
``DUPLICATED_CHECKOUT``), ``GET /v0.1/checkouts?checkout_reference=`` (a list),
``GET /v0.1/checkouts/{id}`` (404 ``NOT_FOUND``), the hosted checkout page, refunds
(``POST /v0.1/me/refund/{transaction_id}`` 204, and ``POST /v1.0/merchants/{code}/payments/
{transaction_id}/refunds`` 201), and webhooks ``{"event_type": "CHECKOUT_STATUS_CHANGED",
"id": ...}`` to the checkout's ``return_url``, retried until a 2xx (after 1 min, 5 min, 20 min,
2 h; the delays are a parameter so tests can shorten them).

Its hosted page says TEST PAYMENT in large letters and offers "Pay (test)" and "Decline
(test)". Tests drive it in-process (:meth:`SumUpStandIn.mark_paid`, ``down``) or over HTTP
(``POST /_standin/checkouts/{id}/paid|failed``). ``rose-ash up`` runs it when no SumUp key
is configured; it refuses to start with production settings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import logging
import os
import secrets
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response, jsonify, redirect, request

from shared.config import ConfigError, Settings, load_settings

log = logging.getLogger("rose_ash.sumup_standin")

SUMUP_RETRY_DELAYS_S = (60.0, 300.0, 1200.0, 7200.0)


@dataclass
class StandInCheckout:
    id: str
    reference: str
    amount: Decimal
    currency: str
    merchant_code: str
    description: str
    return_url: str | None
    redirect_url: str | None
    # Only a checkout created with ``hosted_checkout: {"enabled": true}`` has a hosted page
    # (and says so in its answers), as SumUp's.
    hosted: bool = False
    status: str = "PENDING"
    date: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    transactions: list[dict[str, Any]] = field(default_factory=list)

    def render(self, base_url: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "checkout_reference": self.reference,
            "amount": float(self.amount),
            "currency": self.currency,
            "merchant_code": self.merchant_code,
            "merchant_name": "Rose Ash (test)",
            "description": self.description,
            "status": self.status,
            "date": self.date,
            "transactions": [
                {k: (float(v) if isinstance(v, Decimal) else v) for k, v in tx.items()}
                for tx in self.transactions
            ],
        }
        if self.hosted:
            # As SumUp answers: the request's ``hosted_checkout`` echoed, and the page at
            # ``/pay/c-<checkout id>`` (SumUp's is https://checkout.sumup.com/pay/c-<id>).
            body["hosted_checkout"] = {"enabled": True}
            body["hosted_checkout_url"] = f"{base_url}/pay/c-{self.id}"
        if self.return_url:
            body["return_url"] = self.return_url
        if self.redirect_url:
            body["redirect_url"] = self.redirect_url
        paid = [t for t in self.transactions if t["status"] in ("SUCCESSFUL", "REFUNDED")]
        if paid:
            body["transaction_id"] = paid[0]["id"]
            body["transaction_code"] = paid[0]["transaction_code"]
        return body


def _error(status: int, code: str, message: str, param: str | None = None) -> Response:
    body: dict[str, Any] = {"error_code": code, "message": message}
    if param:
        body["param"] = param
    response = jsonify(body)
    response.status_code = status
    return response


class SumUpStandIn:
    """One merchant's checkouts in memory, served over HTTP."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        merchant_code: str | None = None,
        retry_delays_s: tuple[float, ...] = SUMUP_RETRY_DELAYS_S,
        allow_test_hooks: bool = True,
    ) -> None:
        self.api_key = api_key or "sup_sk_" + secrets.token_hex(16)
        self.merchant_code = merchant_code or "MTEST" + secrets.token_hex(3).upper()
        self.retry_delays_s = retry_delays_s
        self.allow_test_hooks = allow_test_hooks
        self.checkouts: dict[str, StandInCheckout] = {}
        self.refunds: list[dict[str, Any]] = []
        self.webhooks: list[tuple[str, int | str]] = []  # (url, status or error), in order
        self.down = False
        self.url = ""
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self.app = self._build_app()

    # --- running ----------------------------------------------------------------------

    async def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        if port == 0:
            with socket.socket() as sock:
                sock.bind((host, 0))
                port = sock.getsockname()[1]
        config = Config()
        config.bind = [f"{host}:{port}"]
        config.graceful_timeout = 0.1
        config.accesslog = None
        config.errorlog = None
        self.url = f"http://{host}:{port}"
        self._task = asyncio.create_task(serve(self.app, config, shutdown_trigger=self._stop.wait))
        async with httpx.AsyncClient(trust_env=False) as client:
            for _ in range(300):
                try:
                    await client.get(self.url + "/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.02)
        return self.url

    async def stop(self) -> None:
        for task in list(self._deliveries):
            task.cancel()
        self._stop.set()
        if self._task is not None:
            await self._task

    # --- what tests (and the hosted page) do ---------------------------------------------

    def create(self, reference: str, amount: Decimal, currency: str, **kw: Any) -> StandInCheckout:
        checkout = StandInCheckout(
            id=str(uuid.uuid4()),
            reference=reference,
            amount=amount,
            currency=currency,
            merchant_code=kw.get("merchant_code", self.merchant_code),
            description=kw.get("description", ""),
            return_url=kw.get("return_url"),
            redirect_url=kw.get("redirect_url"),
            hosted=bool(kw.get("hosted", True)),
        )
        self.checkouts[checkout.id] = checkout
        return checkout

    def by_reference(self, reference: str) -> StandInCheckout | None:
        for checkout in self.checkouts.values():
            if checkout.reference == reference:
                return checkout
        return None

    def mark_paid(
        self,
        checkout_id: str,
        *,
        amount: Decimal | None = None,
        currency: str | None = None,
        notify: bool = True,
    ) -> StandInCheckout:
        """The buyer paid (``amount``/``currency`` default to the checkout's: give others to
        play a mismatching payment)."""
        checkout = self.checkouts[checkout_id]
        checkout.status = "PAID"
        checkout.transactions.append(
            {
                "id": str(uuid.uuid4()),
                "transaction_code": "TEST" + secrets.token_hex(4).upper(),
                "amount": checkout.amount if amount is None else amount,
                "currency": currency or checkout.currency,
                "status": "SUCCESSFUL",
                "payment_type": "ECOM",
                "timestamp": datetime.now(UTC).isoformat(),
            }
        )
        if notify:
            self.notify(checkout)
        return checkout

    def mark_failed(self, checkout_id: str, *, notify: bool = True) -> StandInCheckout:
        checkout = self.checkouts[checkout_id]
        checkout.status = "FAILED"
        checkout.transactions.append(
            {
                "id": str(uuid.uuid4()),
                "transaction_code": "TEST" + secrets.token_hex(4).upper(),
                "amount": checkout.amount,
                "currency": checkout.currency,
                "status": "FAILED",
                "payment_type": "ECOM",
                "timestamp": datetime.now(UTC).isoformat(),
            }
        )
        if notify:
            self.notify(checkout)
        return checkout

    def notify(self, checkout: StandInCheckout) -> None:
        """Send the webhook to the checkout's ``return_url`` (retrying in the background)."""
        if not checkout.return_url:
            return
        task = asyncio.get_running_loop().create_task(
            self._deliver(checkout.return_url, checkout.id)
        )
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, url: str, checkout_id: str) -> None:
        body = {"event_type": "CHECKOUT_STATUS_CHANGED", "id": checkout_id}
        delays = (0.0, *self.retry_delays_s)
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            for delay in delays:
                if delay:
                    await asyncio.sleep(delay)
                try:
                    response = await client.post(url, json=body)
                except httpx.HTTPError as err:
                    self.webhooks.append((url, repr(err)))
                    continue
                self.webhooks.append((url, response.status_code))
                if 200 <= response.status_code < 300:
                    return
        log.warning("webhook for %s to %s given up after %d tries", checkout_id, url, len(delays))

    async def delivered(self, wait_s: float = 10.0) -> None:
        """Wait until every webhook in flight has been delivered or given up."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*list(self._deliveries), return_exceptions=True), wait_s
            )

    def refund(self, transaction_id: str, amount: Decimal | None) -> str | None:
        """Refund a transaction; None when done, else an error code."""
        for checkout in self.checkouts.values():
            for tx in checkout.transactions:
                if tx["id"] != transaction_id:
                    continue
                if tx["status"] not in ("SUCCESSFUL",):
                    return "INVALID_TRANSACTION_STATUS"
                already = sum(
                    (r["amount"] for r in self.refunds if r["transaction_id"] == transaction_id),
                    Decimal(0),
                )
                wanted = tx["amount"] - already if amount is None else amount
                if wanted <= 0 or already + wanted > tx["amount"]:
                    return "INVALID_AMOUNT"
                self.refunds.append({"transaction_id": transaction_id, "amount": wanted})
                if already + wanted == tx["amount"]:
                    tx["status"] = "REFUNDED"
                return None
        return "NOT_FOUND"

    # --- the HTTP face ---------------------------------------------------------------------

    def _authorized(self) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def _build_app(self) -> Quart:
        app = Quart("sumup_standin")

        @app.before_request
        async def _outage() -> Response | None:
            if self.down and not request.path.startswith("/_standin"):
                return _error(503, "SERVICE_UNAVAILABLE", "The stand-in is playing an outage")
            return None

        @app.get("/healthz")
        async def healthz() -> Response:
            return jsonify({"status": "ok"})

        @app.post("/v0.1/checkouts")
        async def create() -> Response:
            if not self._authorized():
                return _error(401, "NOT_AUTHORIZED", "Invalid access token")
            try:
                data = json_body(await request.get_data(as_text=True))
            except ValueError:
                return _error(400, "INVALID", "Request body is not valid JSON")
            reference = data.get("checkout_reference")
            if not isinstance(reference, str) or not 0 < len(reference) <= 64:
                return _error(400, "MISSING", "Validation error", "checkout_reference")
            amount = data.get("amount")
            if not isinstance(amount, Decimal) or amount <= 0:
                return _error(400, "INVALID", "Validation error", "amount")
            currency = data.get("currency")
            if not isinstance(currency, str) or len(currency) != 3:
                return _error(400, "INVALID", "Validation error", "currency")
            merchant = data.get("merchant_code")
            if not merchant:
                return _error(400, "MISSING", "Validation error", "merchant_code")
            if merchant != self.merchant_code:
                return _error(403, "FORBIDDEN", "Merchant code does not belong to this key")
            hosted = data.get("hosted_checkout")
            if hosted is not None and not (
                isinstance(hosted, dict) and isinstance(hosted.get("enabled"), bool)
            ):
                return _error(400, "INVALID", "Validation error", "hosted_checkout")
            if self.by_reference(reference) is not None:
                return _error(
                    409,
                    "DUPLICATED_CHECKOUT",
                    "Checkout with this checkout reference and pay to email already exists",
                )
            checkout = self.create(
                reference,
                amount,
                currency,
                merchant_code=merchant,
                description=str(data.get("description") or ""),
                return_url=data.get("return_url"),
                redirect_url=data.get("redirect_url"),
                hosted=hosted is not None and hosted.get("enabled") is True,
            )
            response = jsonify(checkout.render(self.url))
            response.status_code = 201
            return response

        @app.get("/v0.1/checkouts")
        async def listing() -> Response:
            if not self._authorized():
                return _error(401, "NOT_AUTHORIZED", "Invalid access token")
            reference = request.args.get("checkout_reference")
            found = [
                c.render(self.url)
                for c in self.checkouts.values()
                if reference is None or c.reference == reference
            ]
            return jsonify(found)

        @app.get("/v0.1/checkouts/<checkout_id>")
        async def read(checkout_id: str) -> Response:
            if not self._authorized():
                return _error(401, "NOT_AUTHORIZED", "Invalid access token")
            checkout = self.checkouts.get(checkout_id)
            if checkout is None:
                return _error(404, "NOT_FOUND", "Resource not found")
            return jsonify(checkout.render(self.url))

        @app.post("/v0.1/me/refund/<transaction_id>")
        async def refund_v01(transaction_id: str) -> Response:
            if not self._authorized():
                return _error(401, "NOT_AUTHORIZED", "Invalid access token")
            raw = await request.get_data(as_text=True)
            try:
                data = json_body(raw) if raw.strip() else {}
            except ValueError:
                return _error(400, "INVALID", "Request body is not valid JSON")
            amount = data.get("amount")
            if amount is not None and not isinstance(amount, Decimal):
                return _error(400, "INVALID", "Validation error", "amount")
            problem = self.refund(transaction_id, amount)
            if problem == "NOT_FOUND":
                return _error(404, "NOT_FOUND", "Resource not found")
            if problem:
                return _error(400, problem, "The refund was refused")
            return Response(status=204)

        @app.post("/v1.0/merchants/<merchant>/payments/<transaction_id>/refunds")
        async def refund_v10(merchant: str, transaction_id: str) -> Response:
            if not self._authorized():
                return _error(401, "NOT_AUTHORIZED", "Invalid access token")
            if merchant != self.merchant_code:
                return _error(403, "FORBIDDEN", "Merchant code does not belong to this key")
            raw = await request.get_data(as_text=True)
            data = json_body(raw) if raw.strip() else {}
            problem = self.refund(transaction_id, data.get("amount"))
            if problem == "NOT_FOUND":
                return _error(404, "NOT_FOUND", "Resource not found")
            if problem:
                return _error(400, problem, "The refund was refused")
            return Response("{}", status=201, mimetype="application/json")

        @app.get("/pay/c-<checkout_id>")
        async def hosted(checkout_id: str) -> Response:
            checkout = self.checkouts.get(checkout_id)
            if checkout is None or not checkout.hosted:
                return Response("No such checkout", status=404)
            return Response(hosted_page(checkout), mimetype="text/html")

        @app.post("/pay/c-<checkout_id>")
        async def pay(checkout_id: str) -> Any:
            checkout = self.checkouts.get(checkout_id)
            if checkout is None or not checkout.hosted:
                return Response("No such checkout", status=404)
            form = await request.form
            if checkout.status == "PENDING":
                if form.get("outcome") == "decline":
                    self.mark_failed(checkout_id)
                else:
                    self.mark_paid(checkout_id)
            if checkout.redirect_url:
                return redirect(checkout.redirect_url)
            return Response(hosted_page(checkout), mimetype="text/html")

        @app.post("/_standin/checkouts/<checkout_id>/<outcome>")
        async def test_hook(checkout_id: str, outcome: str) -> Response:
            if not self.allow_test_hooks:
                return Response(status=404)
            if checkout_id not in self.checkouts or outcome not in ("paid", "failed"):
                return _error(404, "NOT_FOUND", "Resource not found")
            if outcome == "paid":
                self.mark_paid(checkout_id)
            else:
                self.mark_failed(checkout_id)
            return jsonify(self.checkouts[checkout_id].render(self.url))

        @app.post("/_standin/outage/<state>")
        async def outage(state: str) -> Response:
            if not self.allow_test_hooks:
                return Response(status=404)
            self.down = state == "on"
            return jsonify({"down": self.down})

        return app


def json_body(raw: str | bytes) -> dict[str, Any]:
    """A JSON object whose numbers are exact Decimals (as SumUp's amounts must be)."""
    try:
        data = json.loads(raw, parse_float=Decimal, parse_int=Decimal)
    except (ValueError, InvalidOperation) as err:
        raise ValueError("not JSON") from err
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def hosted_page(checkout: StandInCheckout) -> str:
    amount = f"{checkout.amount:.2f} {checkout.currency}"
    done = checkout.status != "PENDING"
    state = {
        "PAID": "This test payment succeeded.",
        "FAILED": "This test payment was declined.",
        "EXPIRED": "This checkout has expired.",
    }.get(checkout.status, "")
    back = (
        f'<p><a href="{html.escape(checkout.redirect_url)}">Back to the shop</a></p>'
        if checkout.redirect_url and done
        else ""
    )
    form = (
        ""
        if done
        else (
            '<form method="post">'
            '<button name="outcome" value="pay" type="submit">Pay (test)</button> '
            '<button name="outcome" value="decline" type="submit">Decline (test)</button>'
            "</form>"
        )
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TEST PAYMENT - SumUp stand-in</title></head>
<body>
<h1 style="color:#b00">TEST PAYMENT</h1>
<p><strong>This is the SumUp stand-in. No card is asked for and no money moves.</strong></p>
<p>Pay {html.escape(amount)} to Rose Ash (test) for {html.escape(checkout.description)}.</p>
<p id="status">{html.escape(state)}</p>
{form}{back}
</body></html>"""


def refuse_in_production(settings: Settings) -> None:
    if settings.production:
        raise ConfigError(
            "sumup stand-in: refused with production settings (it takes no real payments)"
        )


async def _serve_forever(standin: SumUpStandIn, port: int) -> None:
    await standin.start(port)
    print(f"SumUp stand-in (TEST PAYMENTS) at {standin.url}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.services.cart.sumup_standin --port N``: what ``rose-ash up`` runs."""
    parser = argparse.ArgumentParser(prog="sumup-standin")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    settings = load_settings()
    refuse_in_production(settings)
    standin = SumUpStandIn(
        api_key=os.environ.get("ROSE_SUMUP_API_KEY"),
        merchant_code=os.environ.get("ROSE_SUMUP_MERCHANT_CODE"),
        # A developer waits minutes, not hours, for a retried webhook.
        retry_delays_s=(5.0, 30.0, 120.0),
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(standin, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
