"""A SumUp client for exactly what the cart needs (docs/EXTERNAL-APIS.md, "SumUp").

- :meth:`SumUpClient.create_checkout` with the order id as ``checkout_reference`` (SumUp's
  only idempotency key); a 409 ``DUPLICATED_CHECKOUT`` is recovered by looking the checkout up
  by reference, so retrying after a lost answer never makes a second checkout.
- :meth:`SumUpClient.checkout` re-reads a checkout: the only source of "paid".
- :meth:`SumUpClient.refund` refunds (part of) a transaction.

Amounts cross the wire as JSON numbers in major units; here they are :class:`Money` (integer
minor units), converted exactly (Decimal, never float). Card data is never touched: buyers pay
on SumUp's hosted checkout page.
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.config import Settings
from shared.contracts import Money

_AMOUNT_PLACEHOLDER = "__rose_ash_amount__"

log = logging.getLogger("rose_ash.sumup")


class SumUpError(Exception):
    """SumUp refused or could not be asked; ``code`` is stable, ``str()`` is for the log."""

    code = "sumup_error"


class SumUpUnavailable(SumUpError):
    """No usable answer (network, timeout, 5xx, malformed): try again later."""

    code = "sumup_unavailable"


class SumUpRefused(SumUpError):
    """A 4xx other than the ones handled: a bug or a misconfiguration (keys, merchant)."""

    code = "sumup_refused"

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code


class SumUpNotConfigured(SumUpError):
    code = "sumup_not_configured"


@dataclass(frozen=True)
class Transaction:
    id: str
    code: str
    amount: Money | None
    status: str  # SUCCESSFUL | FAILED | PENDING | CANCELLED | REFUNDED


@dataclass(frozen=True)
class Checkout:
    id: str
    reference: str
    amount: Money | None
    status: str  # PENDING | PAID | FAILED | EXPIRED
    hosted_url: str
    transaction_id: str | None
    transaction_code: str | None
    transactions: tuple[Transaction, ...]

    def successful_payment(self) -> Transaction | None:
        """The transaction that paid this checkout, if SumUp says it is PAID."""
        if self.status != "PAID":
            return None
        for tx in self.transactions:
            if tx.status == "SUCCESSFUL":
                return tx
        return None


def to_minor(value: Any, currency: str) -> Money | None:
    """SumUp's major-unit number as Money; None when it is not an exact amount in pence."""
    try:
        amount = Decimal(str(value)) * 100
    except (InvalidOperation, ValueError):
        return None
    if amount != amount.to_integral_value() or isinstance(value, bool):
        return None
    try:
        return Money(int(amount), currency)
    except (TypeError, ValueError):
        return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return ""


def _checkout(data: Any, hosted_origins: tuple[str, ...] = ()) -> Checkout:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise SumUpUnavailable("SumUp answered a checkout without an id")
    currency = str(data.get("currency", ""))
    transactions = []
    for tx in data.get("transactions") or ():
        if not isinstance(tx, dict) or not isinstance(tx.get("id"), str):
            continue
        transactions.append(
            Transaction(
                id=tx["id"],
                code=str(tx.get("transaction_code") or ""),
                amount=to_minor(tx.get("amount"), str(tx.get("currency", ""))),
                status=str(tx.get("status", "")),
            )
        )
    return Checkout(
        id=data["id"],
        reference=str(data.get("checkout_reference", "")),
        amount=to_minor(data.get("amount"), currency),
        status=str(data.get("status", "")),
        hosted_url=_hosted_url(data.get("hosted_checkout_url"), hosted_origins),
        transaction_id=data.get("transaction_id"),
        transaction_code=data.get("transaction_code"),
        transactions=tuple(transactions),
    )


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process: building one loads the CA bundle, about 20 ms of CPU,
    which a client per call paid on every checkout (the benchmark's profile of the cart)."""
    return httpx.create_ssl_context(trust_env=False)


def _hosted_url(value: Any, hosted_origins: tuple[str, ...]) -> str:
    """SumUp's ``hosted_checkout_url`` (``https://checkout.sumup.com/pay/c-<checkout id>``),
    kept only when it is on one of ``hosted_origins``: the buyer is redirected there, so an
    answer naming anywhere else sends nobody anywhere (the order page offers to pay again)."""
    url = value if isinstance(value, str) else ""
    if not url:
        return ""
    if _origin(url) not in hosted_origins:
        log.warning("SumUp answered a hosted checkout page off its origins: %.200s", url)
        return ""
    return url


def hosted_checkout_origins(settings: Settings) -> list[str]:
    """The origins a buyer is sent to to pay: SumUp's hosted checkout page, and the API's
    own origin (where the stand-in serves its page)."""
    return _hosted_origins(settings.sumup.hosted_checkout_origin, settings.sumup.base_url)


def _hosted_origins(*urls: str) -> list[str]:
    return list(dict.fromkeys(o for o in map(_origin, urls) if o))


class SumUpClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        merchant_code: str | None,
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        hosted_checkout_origin: str = "https://checkout.sumup.com",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Where the hosted checkout pages may be (SumUp's, or the stand-in's own origin).
        self.hosted_origins = tuple(_hosted_origins(hosted_checkout_origin, base_url))
        self.api_key = api_key
        self.merchant_code = merchant_code
        self.timeout_s = timeout_s
        self.transport = transport

    @classmethod
    def from_settings(cls, settings: Settings) -> SumUpClient:
        return cls(
            settings.sumup.base_url,
            settings.secrets.sumup_api_key,
            settings.secrets.sumup_merchant_code,
            timeout_s=settings.sumup.timeout_s,
            hosted_checkout_origin=settings.sumup.hosted_checkout_origin,
        )

    @property
    def configured(self) -> bool:
        return bool(self.api_key and self.merchant_code)

    async def _request(
        self, method: str, path: str, *, body: bytes | None = None, params: Any = None
    ) -> httpx.Response:
        if not self.configured:
            raise SumUpNotConfigured("ROSE_SUMUP_API_KEY / ROSE_SUMUP_MERCHANT_CODE are not set")
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout_s, transport=self.transport, trust_env=False, verify=_tls()
            ) as client:
                response = await client.request(
                    method, self.base_url + path, content=body, params=params, headers=headers
                )
        except httpx.HTTPError as err:
            raise SumUpUnavailable(f"{method} {path}: {err!r}") from err
        if response.status_code >= 500:
            raise SumUpUnavailable(f"{method} {path}: HTTP {response.status_code}")
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as err:
            raise SumUpUnavailable(f"HTTP {response.status_code}: not JSON") from err

    def _refused(self, response: httpx.Response) -> SumUpRefused:
        try:
            data = response.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        return SumUpRefused(
            response.status_code,
            str(data.get("error_code", "")),
            str(data.get("message", ""))[:200],
        )

    async def create_checkout(
        self,
        reference: str,
        amount: Money,
        *,
        description: str,
        return_url: str,
        redirect_url: str,
    ) -> Checkout:
        """Create the checkout for ``reference``, or find the one a lost answer created."""
        payload = {
            "checkout_reference": reference,
            "amount": _AMOUNT_PLACEHOLDER,
            "currency": amount.currency,
            "merchant_code": self.merchant_code,
            "description": description[:200],
            "return_url": return_url,
            "redirect_url": redirect_url,
            "hosted_checkout": {"enabled": True},
        }
        # An exact decimal number, not a float: "12.50" written as a JSON number.
        body = json.dumps(payload).replace(f'"{_AMOUNT_PLACEHOLDER}"', amount.decimal_str())
        response = await self._request("POST", "/v0.1/checkouts", body=body.encode())
        if response.status_code == 409:
            found = await self.find_by_reference(reference)
            if found is None:
                raise SumUpUnavailable(f"409 for {reference} but no checkout found by reference")
            return found
        if response.status_code not in (200, 201):
            raise self._refused(response)
        return _checkout(self._json(response), self.hosted_origins)

    async def find_by_reference(self, reference: str) -> Checkout | None:
        response = await self._request(
            "GET", "/v0.1/checkouts", params={"checkout_reference": reference}
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._refused(response)
        data = self._json(response)
        items = data if isinstance(data, list) else []
        for item in items:
            if isinstance(item, dict) and item.get("checkout_reference") == reference:
                return _checkout(item, self.hosted_origins)
        return None

    async def checkout(self, checkout_id: str) -> Checkout | None:
        """Re-read a checkout; None when SumUp does not know the id."""
        if not checkout_id or "/" in checkout_id or len(checkout_id) > 100:
            return None
        response = await self._request("GET", f"/v0.1/checkouts/{checkout_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._refused(response)
        return _checkout(self._json(response), self.hosted_origins)

    async def refund(self, transaction_id: str, amount: Money) -> None:
        """Refund ``amount`` of a transaction (the id is ``transactions[].id``)."""
        body = f'{{"amount": {amount.decimal_str()}}}'.encode()
        response = await self._request("POST", f"/v0.1/me/refund/{transaction_id}", body=body)
        if response.status_code not in (200, 201, 204):
            raise self._refused(response)
