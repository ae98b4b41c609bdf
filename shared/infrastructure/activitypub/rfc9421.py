"""RFC 9421 HTTP Message Signatures, as Fedify and current Mastodon speak them.

Parsing, the signature base and the cryptography are the ``http-message-signatures`` library's;
this module holds the fediverse's profile of it. Outbound requests sign ``@method``,
``@target-uri``, ``@authority`` and, with a body, ``content-digest`` (RFC 9530, SHA-256), with
``created``, ``keyid`` and ``alg="rsa-v1_5-sha256"``, under the label ``sig1``. Inbound requests
must carry exactly one signature covering ``@method`` and the target (``@target-uri``, or
``@authority`` with ``@path``), and ``content-digest`` when they have a body; ``created`` must be
inside the signature window and ``expires`` (if given) not past by more than a few seconds.
The key decides the algorithm: an RSA key verifies ``rsa-v1_5-sha256`` (or
``rsa-pss-sha512``), an Ed25519 key ``ed25519``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import http_sf
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from shared.infrastructure.activitypub.signatures import SignatureError, http_date, signature_of

LABEL = "sig1"
EXPIRES_GRACE_S = 5
GET_COMPONENTS = ("@method", "@target-uri", "@authority")
POST_COMPONENTS = (*GET_COMPONENTS, "content-digest")

PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey


@dataclass
class _Message:
    """The request as the library reads it: method, absolute URL and header fields."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


class _Keys(HTTPSignatureKeyResolver):
    def __init__(self, private: rsa.RSAPrivateKey | None = None, public: Any = None) -> None:
        self.private = private
        self.public = public

    def resolve_private_key(self, key_id: str) -> Any:
        return self.private

    def resolve_public_key(self, key_id: str) -> Any:
        return self.public


def is_rfc9421(headers: Mapping[str, str]) -> bool:
    """Whether the request is signed with RFC 9421 (``Signature-Input``), not draft-cavage."""
    return any(k.lower() == "signature-input" for k in headers)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def signer_key_id(headers: Mapping[str, str]) -> str:
    """The ``keyId`` (draft-cavage) or ``keyid`` (RFC 9421) the request claims to be signed by."""
    if is_rfc9421(headers):
        return signature_input(headers).key_id
    return signature_of(headers).key_id


@dataclass(frozen=True)
class SignatureInput:
    label: str
    key_id: str
    alg: str | None
    expires: int | None = None


def signature_input(headers: Mapping[str, str]) -> SignatureInput:
    """The one signature's label, ``keyid`` and ``alg``, or a 401-worthy SignatureError."""
    value = _header(headers, "signature-input")
    if value is None or _header(headers, "signature") is None:
        raise SignatureError("signature_missing", "This request is not signed.")
    try:
        parsed: Any = http_sf.parse(value.encode(), tltype="dictionary")
    except Exception:  # the parser raises ValueError and others on any malformed field
        raise SignatureError(
            "signature_malformed", "The Signature-Input header cannot be parsed."
        ) from None
    if not isinstance(parsed, dict) or len(parsed) != 1:
        raise SignatureError(
            "signature_malformed", "Exactly one signature is accepted in Signature-Input."
        )
    label, member = next(iter(parsed.items()))
    params = member[1] if isinstance(member, tuple) and isinstance(member[1], dict) else {}
    key_id = params.get("keyid")
    alg = params.get("alg")
    if not isinstance(key_id, str) or not key_id:
        raise SignatureError("signature_malformed", "The signature has no keyid.")
    if alg is not None and not isinstance(alg, str):
        raise SignatureError("signature_malformed", "The signature's alg is not a string.")
    expires = params.get("expires")
    return SignatureInput(str(label), key_id, alg, expires if isinstance(expires, int) else None)


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
    """The headers to send: Date, (Content-Type, Content-Digest), Signature-Input, Signature."""
    moment = now or datetime.now(UTC)
    message = _Message(method.upper(), url, {"Date": http_date(moment), **(extra_headers or {})})
    if body is not None:
        message.headers["Content-Type"] = content_type
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256, key_resolver=_Keys(private=private_key)
    )
    signer.sign(
        message,
        key_id=key_id,
        created=moment,
        label=LABEL,
        covered_component_ids=POST_COMPONENTS if body is not None else GET_COMPONENTS,
        body=body,
    )
    return message.headers


def _algorithm(key: PublicKey, alg: str | None) -> type[algorithms.HTTPSignatureAlgorithm]:
    if isinstance(key, ed25519.Ed25519PublicKey):
        if alg not in (None, "ed25519"):
            raise SignatureError("signature_algorithm", f"{alg!r} does not fit an Ed25519 key.")
        return algorithms.ED25519
    if alg in (None, "rsa-v1_5-sha256"):
        return algorithms.RSA_V1_5_SHA256
    if alg == "rsa-pss-sha512":
        return algorithms.RSA_PSS_SHA512
    raise SignatureError("signature_algorithm", f"Algorithm {alg!r} is not supported.")


def _names(covered: Mapping[str, str]) -> set[str]:
    """Component names without their parameters (``"content-digest";sf`` -> content-digest)."""
    return {k.split(";", 1)[0].strip('"') for k in covered}


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    key: PublicKey,
    *,
    window_s: int,
) -> None:
    """Check the request's RFC 9421 signature against ``key``; raise SignatureError if not."""
    sig = signature_input(headers)
    # The sender's own deadline is kept (the window below is for clocks that differ).
    if sig.expires is not None and sig.expires + EXPIRES_GRACE_S < datetime.now(UTC).timestamp():
        raise SignatureError("signature_expired", "The signature has expired.")
    verifier = HTTPMessageVerifier(
        signature_algorithm=_algorithm(key, sig.alg), key_resolver=_Keys(public=key)
    )
    # Clocks differ: the same tolerance as draft-cavage's Date, for created in the future too.
    verifier.max_clock_skew = timedelta(seconds=window_s)
    message = _Message(method.upper(), url, dict(headers))
    try:
        results = verifier.verify(
            message, max_age=timedelta(seconds=window_s), body=body, require_components=("@method",)
        )
    except InvalidSignature as err:
        text = str(err)
        if "expires" in text or "age exceeds" in text or "future" in text:
            raise SignatureError(
                "signature_expired", f"The signature is not current: {text}"
            ) from None
        if "Content-Digest" in text or "content-digest" in text.lower():
            raise SignatureError("digest_mismatch", f"The body does not match: {text}") from None
        raise SignatureError(
            "signature_invalid", f"The signature does not verify: {text}"
        ) from None
    except HTTPMessageSignaturesException as err:
        raise SignatureError("signature_malformed", f"The signature is malformed: {err}") from None
    names = _names(results[0].covered_components)
    if "@target-uri" not in names and not {"@authority", "@path"} <= names:
        raise SignatureError(
            "signature_headers_insufficient",
            "The signature must cover @target-uri (or @authority and @path).",
        )
