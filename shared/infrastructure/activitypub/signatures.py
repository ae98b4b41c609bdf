"""HTTP Signatures as the fediverse speaks them (draft-cavage-http-signatures-12).

Outbound requests are signed with ``rsa-sha256`` (RSASSA-PKCS1-v1_5 over SHA-256): POSTs sign
``(request-target) host date digest content-type`` and carry ``Digest: SHA-256=<base64>``,
GETs sign ``(request-target) host date``. Inbound requests must sign at least
``(request-target) host date`` (and ``digest`` when they have a body), with a ``Date`` inside
the window and a digest that matches the body. RFC 9421 signatures (``Signature-Input``) are
:mod:`~shared.infrastructure.activitypub.rfc9421`'s (whose ``signer_key_id`` reads either).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from shared.errors import DomainError

POST_HEADERS = ("(request-target)", "host", "date", "digest", "content-type")
GET_HEADERS = ("(request-target)", "host", "date")
REQUIRED = ("(request-target)", "host", "date")
# "hs2019" means "whatever the key says"; with an RSA key it is rsa-sha256 (Mastodon sends it).
ALGORITHMS = ("rsa-sha256", "hs2019")


class SignatureError(DomainError):
    """A request we cannot verify: answered 401 so the sender may retry differently."""

    status = 401


@dataclass(frozen=True)
class SignatureParams:
    key_id: str
    algorithm: str
    headers: tuple[str, ...]
    signature: bytes
    created: int | None = None
    expires: int | None = None


def http_date(moment: datetime | None = None) -> str:
    """An RFC 7231 IMF-fixdate (``Tue, 01 Dec 2026 10:00:00 GMT``)."""
    return format_datetime((moment or datetime.now(UTC)).astimezone(UTC), usegmt=True)


def body_digest(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def _request_target(method: str, url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return f"{method.lower()} {target}", parts.netloc


def signing_string(
    headers: Iterable[str],
    method: str,
    path_and_query: str,
    values: Mapping[str, str],
    *,
    created: int | None = None,
    expires: int | None = None,
) -> str:
    """The text that is signed: one ``name: value`` line per listed header."""
    lower = {k.lower(): v for k, v in values.items()}
    lines = []
    for name in headers:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {path_and_query}")
        elif name == "(created)":
            if created is None:
                raise SignatureError("signature_malformed", "(created) is signed but not given.")
            lines.append(f"(created): {created}")
        elif name == "(expires)":
            if expires is None:
                raise SignatureError("signature_malformed", "(expires) is signed but not given.")
            lines.append(f"(expires): {expires}")
        else:
            if name not in lower:
                raise SignatureError(
                    "signature_header_missing", f"The signed header {name!r} is not in the request."
                )
            lines.append(f"{name}: {lower[name].strip()}")
    return "\n".join(lines)


def sign_request(
    method: str,
    url: str,
    *,
    key_id: str,
    private_key: rsa.RSAPrivateKey,
    body: bytes | None = None,
    content_type: str = "application/activity+json",
    extra_headers: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers to send with a signed request: Host, Date, (Digest, Content-Type), Signature."""
    target, host = _request_target(method, url)
    headers = {"Host": host, "Date": http_date(now), **(extra_headers or {})}
    signed: tuple[str, ...] = GET_HEADERS
    if body is not None:
        headers["Digest"] = body_digest(body)
        headers["Content-Type"] = content_type
        signed = POST_HEADERS
    text = signing_string(signed, method, target.split(" ", 1)[1], headers)
    signature = private_key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    headers["Signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(signed)}",'
        f'signature="{base64.b64encode(signature).decode()}"'
    )
    return headers


_PARAM = re.compile(r'\s*([a-zA-Z]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))\s*(?:,|$)')


def parse_signature(value: str) -> SignatureParams:
    """Parse a draft-cavage ``Signature`` header (or ``Authorization: Signature ...``)."""
    if value.lower().startswith("signature "):
        value = value[len("signature ") :]
    params: dict[str, str] = {}
    pos = 0
    while pos < len(value):
        m = _PARAM.match(value, pos)
        if m is None or m.end() == pos:
            raise SignatureError("signature_malformed", "The Signature header cannot be parsed.")
        params[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
        pos = m.end()
    if "keyid" not in params or "signature" not in params:
        raise SignatureError(
            "signature_malformed", "The Signature header lacks keyId or signature."
        )
    algorithm = params.get("algorithm", "hs2019").lower()
    if algorithm not in ALGORITHMS:
        raise SignatureError("signature_algorithm", f"Algorithm {algorithm!r} is not supported.")
    try:
        signature = base64.b64decode(params["signature"], validate=True)
        created = int(params["created"]) if "created" in params else None
        expires = int(params["expires"]) if "expires" in params else None
    except ValueError:
        raise SignatureError("signature_malformed", "The Signature header is malformed.") from None
    headers = tuple(params.get("headers", "(created)").lower().split())
    return SignatureParams(params["keyid"], algorithm, headers, signature, created, expires)


def signature_of(headers: Mapping[str, str]) -> SignatureParams:
    """The request's draft-cavage signature, or a 401-worthy SignatureError."""
    lower = _lower(headers)
    value = lower.get("signature")
    if value is None:
        auth = lower.get("authorization", "")
        if auth.lower().startswith("signature "):
            value = auth
    if value is None:
        raise SignatureError("signature_missing", "This request is not signed.")
    return parse_signature(value)


def verify_request(
    method: str,
    path_and_query: str,
    headers: Mapping[str, str],
    body: bytes,
    params: SignatureParams,
    public_key_pem: str,
    *,
    window_s: int,
    now: datetime | None = None,
) -> None:
    """Check the signature, the date window and the body digest; raise SignatureError if not."""
    headers = _lower(headers)
    covered = set(params.headers)
    missing = [h for h in REQUIRED if h not in covered]
    if body and "digest" not in covered:
        missing.append("digest")
    if missing:
        raise SignatureError(
            "signature_headers_insufficient", f"The signature must cover {', '.join(missing)}."
        )
    date = headers.get("date")
    if date is None:
        raise SignatureError("date_missing", "The request has no Date header.")
    try:
        sent = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        raise SignatureError("date_malformed", "The Date header cannot be read.") from None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    skew = abs(((now or datetime.now(UTC)) - sent).total_seconds())
    if skew > window_s:
        raise SignatureError("date_outside_window", "The request's Date is too far from now.")
    if body or "digest" in covered:
        digest = headers.get("digest")
        if digest is None:
            raise SignatureError("digest_missing", "The request has no Digest header.")
        ours = body_digest(body)
        theirs = [d.strip() for d in digest.split(",") if d.strip().upper().startswith("SHA-256=")]
        if not theirs:
            raise SignatureError("digest_algorithm", "The Digest must use SHA-256.")
        if theirs[0][len("SHA-256=") :] != ours[len("SHA-256=") :]:
            raise SignatureError("digest_mismatch", "The body does not match its Digest.")
    text = signing_string(
        params.headers,
        method,
        path_and_query,
        headers,
        created=params.created,
        expires=params.expires,
    )
    key = load_public_key(public_key_pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("key_unsupported", "draft-cavage signatures need an RSA key.")
    try:
        key.verify(params.signature, text.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureError("signature_invalid", "The signature does not verify.") from None


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@lru_cache(maxsize=1024)
def load_public_key(pem: str) -> rsa.RSAPublicKey | ed25519.Ed25519PublicKey:
    """An RSA or Ed25519 public key from SubjectPublicKeyInfo PEM."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise SignatureError("key_malformed", "The signer's public key cannot be read.") from None
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise SignatureError("key_unsupported", "Only RSA and Ed25519 keys are supported.")
    return key
