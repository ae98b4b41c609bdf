"""Federation's OAuth2 authorization server and OpenID Connect provider (Authlib), with the
storage of its codes and tokens in identity's tables.

Authlib's framework-agnostic server classes do the protocol work; this package holds what they
need around them. The web side stays in the federation app (``federation/bp/oauth.py``),
which reads the Quart request and hands it in:

* Authlib's grant code is synchronous. A view awaits the form, builds a
  :class:`~shared.services.identity.oidc.request.RoseOAuth2Request` and runs the grant inside
  ``AsyncSession.run_sync``: one transaction per call, committed by the request. Password
  hashing and Redis stay outside.
* Authorization code with PKCE: ``S256`` only, and required for every client (Authlib's
  ``CodeChallenge(required=True)`` only forces public clients and defaults to ``plain``).
* Codes are stored hashed, live ``oauth.code_ttl_s`` (at most 60 s) and are consumed with a
  guarded ``UPDATE ... WHERE consumed_at IS NULL``: of two concurrent redemptions exactly
  one gets tokens. A replayed code revokes every token it produced (RFC 6749 §4.1.2).
* Redirect URIs match exactly; an unknown client or redirect URI gets an error page, never
  a redirect (RFC 6749 §4.1.2.1).
* Refresh tokens rotate; presenting a used one revokes its whole chain (the ``family_id``).
* ID tokens are RS256 with ``sid``, ``nonce`` and ``auth_time``. Clients are the five other
  apps (from config, first-party: no consent screen) and the tools an admin registers
  (:mod:`.tools`: confidential or public, trusted or asking the member's consent once).
* Ending a sign-in anywhere owes each tool that holds its tokens a back-channel logout token
  (:mod:`.backchannel`, sent by the worker).

Modules: :mod:`.clients` (relying parties, signing key), :mod:`.claims` (the person and
their claims), :mod:`.storage` (codes and tokens), :mod:`.request` (what the grants read),
:mod:`.grants` (grants and endpoints), :mod:`.provider` (the server and its outcomes).
"""

from shared.services.identity.oidc.claims import EndUser, picture_of_async, user_claims
from shared.services.identity.oidc.clients import Client, load_signing_key, registered_clients
from shared.services.identity.oidc.provider import (
    ErrorPage,
    NeedsConfirmation,
    NeedsConsent,
    NeedsSignIn,
    Provider,
    Redirect,
    SignedOut,
)
from shared.services.identity.oidc.request import RawResponse, RoseOAuth2Request
from shared.services.identity.oidc.storage import bearer_user

# What the federation app (its views and factory) and the sign-on tests use.
__all__ = [
    "Client",
    "EndUser",
    "ErrorPage",
    "NeedsConfirmation",
    "NeedsConsent",
    "NeedsSignIn",
    "Provider",
    "RawResponse",
    "Redirect",
    "RoseOAuth2Request",
    "SignedOut",
    "bearer_user",
    "load_signing_key",
    "picture_of_async",
    "registered_clients",
    "user_claims",
]
