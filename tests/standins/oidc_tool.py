"""A stand-in for a cooperative's tool (a forum, say) that signs members in with Rose Ash: an
OpenID Connect relying party written the way such a tool is, with Authlib's client.

It reads federation's discovery document, sends the browser to the authorization endpoint
(PKCE S256, state, nonce), redeems the code, validates the ID token against the JWKS (issuer,
audience, nonce, expiry), asks the UserInfo endpoint, refreshes, and honours Back-Channel
Logout 1.0 (a logout token validated as §2.6 says ends its sessions with that ``sid``).
Served by Hypercorn on a loopback port in the test's own event loop, so the test reads its
sessions and the logout tokens it received directly."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from quart import Quart, Response, redirect, request

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass
class ToolSession:
    sub: str
    sid: str
    id_claims: dict[str, Any]
    userinfo: dict[str, Any]
    token: dict[str, Any]


@dataclass
class StandInTool:
    """The tool: its registration at Rose Ash and what it has seen."""

    issuer: str
    client_id: str
    client_secret: str | None
    scope: str = "openid profile email roles"
    name: str = "tool"
    url: str = ""  # set once served
    sessions: dict[str, ToolSession] = field(default_factory=dict)
    logout_tokens: list[dict[str, Any]] = field(default_factory=list)
    refused_logout_tokens: list[str] = field(default_factory=list)
    _pending: dict[str, tuple[str, str]] = field(default_factory=dict)
    _metadata: dict[str, Any] | None = None

    @property
    def redirect_uri(self) -> str:
        return f"{self.url}/callback"

    @property
    def backchannel_logout_uri(self) -> str:
        return f"{self.url}/backchannel-logout"

    def client(self, **kw: Any) -> AsyncOAuth2Client:
        auth = "none" if self.client_secret is None else "client_secret_basic"
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=self.scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=auth,
            trust_env=False,
            **kw,
        )

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            async with httpx.AsyncClient(trust_env=False) as http:
                answer = await http.get(f"{self.issuer}/.well-known/openid-configuration")
                answer.raise_for_status()
                self._metadata = answer.json()
        return self._metadata

    async def keys(self) -> KeySet:
        async with httpx.AsyncClient(trust_env=False) as http:
            jwks = (await http.get((await self.metadata())["jwks_uri"])).json()
        return KeySet.import_key_set(jwks)

    async def validate_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        token = jwt.decode(id_token, await self.keys(), algorithms=["RS256"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
            exp={"essential": True},
        ).validate(token.claims)
        return dict(token.claims)

    async def validate_logout_token(self, logout_token: str) -> dict[str, Any]:
        """Back-Channel Logout 1.0 §2.6."""
        token = jwt.decode(logout_token, await self.keys(), algorithms=["RS256"])
        if token.header.get("typ") != "logout+jwt":
            raise JoseError("typ")
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            iat={"essential": True},
            jti={"essential": True},
        ).validate(token.claims)
        claims = dict(token.claims)
        if EVENT not in (claims.get("events") or {}) or "nonce" in claims:
            raise JoseError("events")
        if not claims.get("sid") and not claims.get("sub"):
            raise JoseError("sid")
        return claims

    def app(self) -> Quart:
        app = Quart(self.name)
        tool = self

        @app.get("/healthz")
        async def healthz() -> Any:
            return {"app": app.name}

        @app.get("/")
        async def home() -> Any:
            found = tool.sessions.get(request.cookies.get("tool_session", ""))
            if found is None:
                return '<p>Not signed in. <a href="/login">Sign in with Rose Ash</a></p>'
            name = found.userinfo.get("name", "")
            roles = ", ".join(found.userinfo.get("roles", []))
            return f"<p>Signed in to {app.name} as <b>{name}</b> (roles: {roles})</p>"

        @app.get("/login")
        async def login() -> Any:
            meta = await tool.metadata()
            verifier = secrets.token_urlsafe(48)
            nonce = secrets.token_urlsafe(16)
            async with tool.client() as client:
                uri, state = client.create_authorization_url(
                    meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
                )
            tool._pending[state] = (verifier, nonce)
            return redirect(uri)

        @app.get("/callback")
        async def callback() -> Any:
            meta = await tool.metadata()
            state = request.args.get("state", "")
            if "error" in request.args or state not in tool._pending:
                return f"refused: {request.args.get('error', 'state')}", 400
            verifier, nonce = tool._pending.pop(state)
            async with tool.client(state=state) as client:
                token = await client.fetch_token(
                    meta["token_endpoint"],
                    authorization_response=str(request.url),
                    code_verifier=verifier,
                )
                claims = await tool.validate_id_token(token["id_token"], nonce)
                info = (await client.get(meta["userinfo_endpoint"])).json()
            key = secrets.token_urlsafe(16)
            tool.sessions[key] = ToolSession(claims["sub"], claims["sid"], claims, info, token)
            response = redirect("/")
            response.set_cookie("tool_session", key, httponly=True)
            return response

        @app.post("/backchannel-logout")
        async def backchannel_logout() -> Any:
            raw = (await request.form).get("logout_token", "")
            try:
                claims = await tool.validate_logout_token(raw)
            except (JoseError, ValueError):
                tool.refused_logout_tokens.append(raw)
                return Response('{"error":"invalid_request"}', 400)
            tool.logout_tokens.append(claims)
            for key, found in list(tool.sessions.items()):
                if found.sid == claims.get("sid"):
                    del tool.sessions[key]
            return Response("", 200, headers={"Cache-Control": "no-store"})

        return app

    async def refresh(self, session: ToolSession) -> dict[str, Any]:
        meta = await self.metadata()
        async with self.client(token=session.token) as client:
            token: dict[str, Any] = await client.refresh_token(meta["token_endpoint"])
        session.token = token
        return token

    async def userinfo(self, access_token: str) -> httpx.Response:
        meta = await self.metadata()
        async with httpx.AsyncClient(trust_env=False) as http:
            return await http.get(
                meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"}
            )


@dataclass
class LogoutReceiver:
    """A bare HTTP/1.1 endpoint on loopback that records each POST's form body and answers
    200 (for tests that run federation in-process and need only what reaches the wire)."""

    bodies: list[dict[str, str]] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/backchannel-logout"

    async def start(self) -> LogoutReceiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = (await reader.readexactly(length)).decode() if length else ""
            if request_line.startswith(b"POST "):
                self.bodies.append(dict(parse_qsl(body)))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()
