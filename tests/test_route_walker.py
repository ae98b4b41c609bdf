"""Every route of every app, taken from its URL map, answers hostile input with something other
than a 5xx: integers beyond 64 bits, negative and zero ids, NUL bytes, over-long values,
impossible dates, JSON nested thousands deep, wrong content types, in every path converter,
every query parameter and every form field the route reads.

The walk needs no list of routes or parameters: the routes come from ``app.url_map``, real URLs
of them from crawling the app's pages over the demo content (so a route that 404s on an unknown
slug is also reached with a known one and reads its query), and the parameters from what each
view actually reads (``request.args`` and ``request.form`` are recorded while the walk runs,
until no new one turns up). It walks anonymously, signed in as a member and signed in as an
admin (who holds every role): authorization must not hide a 500 behind a 403, nor CSRF behind
its refusal, so every unsafe request carries the session's CSRF token and an allowed
``Origin``.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import pytest
from quart import request
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from shared.config import APP_NAMES
from shared.infrastructure import internal_auth
from shared.infrastructure.context import services
from shared.infrastructure.csrf import HEADER, SESSION_KEY
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.fragments import provided_fragments
from shared.infrastructure.visitor import Visitor
from shared.tooling.demo import seeders
from tests.identity.factories import client_signed_in, make_member
from tests.support.settings import TEST_INTERNAL_SECRET, AppMaker

# Values a stranger may put anywhere (already percent-encoded where they go into a URL).
OVER_LONG = "x" * 5000
HOSTILE = (
    "9223372036854775808",  # one past the largest bigint
    "1" + "0" * 5000,  # past Python's digit limit for int()
    "-1",
    "0",
    "a%00b",
    OVER_LONG,
    "%C2%B2",  # "²": str.isdigit() says yes, int() says no
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "9999-12-31T23:59",
    "0001-01-01T00:00",
    "99991231T235959Z",
    "00010101T000000Z",
    "%FF%FE",
)
# Per converter: what may stand in a path segment (``<path:>`` may hold slashes).
PATH_HOSTILE = {
    "default": ("%00", *HOSTILE),
    "int": ("9223372036854775808", "99999999999999999999", "1" + "0" * 5000, "0"),
    "path": ("%00", "a/%00", "..%2f..%2fetc", OVER_LONG),
}
BENIGN = {"default": "x", "int": "1", "path": "x"}
# Bodies of the wrong kind, sent to every unsafe route.
# Twice Python's recursion limit, and under the smallest body limit (SumUp's webhook, 4 KiB).
DEEP_JSON = "[" * 2000 + "]" * 2000
BODIES: tuple[tuple[str, bytes], ...] = (
    ("application/json", DEEP_JSON.encode()),
    ("application/json", ('{"a":' * 4000 + "1" + "}" * 4000).encode()),
    ("application/json", ('{"a":' * 650 + "1" + "}" * 650).encode()),
    ("application/json", b'{"type": "Create\\u0000", "id": "\\u0000"}'),
    ("application/json", b"\xff\xfe{"),
    ("application/activity+json", DEEP_JSON.encode()),
    ("text/plain", b"\x00\x01\x02"),
    ("multipart/form-data", b"--x\r\n"),  # no boundary parameter
    ("application/x-www-form-urlencoded", b"a=%ZZ&b=%00&c=%FF"),
)
SIGNATURE = 'keyId="http://127.0.0.1:1/actor#main-key",signature="AAAA"'
# The crawl reads at most this many pages of one endpoint.
SAMPLES_PER_ENDPOINT = 2
LINK = re.compile(r'(?:href|action)="([^"#]*)"')
WALKED_METHODS = ("GET", "POST", "PUT", "DELETE")


class Recorded(ImmutableMultiDict[str, str]):
    """Request arguments that note which keys the view asked for."""

    reads: set[str]

    def __getitem__(self, key: str) -> str:
        self.reads.add(key)
        return super().__getitem__(key)

    def getlist(self, key: str, type: Any = None) -> list[Any]:
        self.reads.add(key)
        return super().getlist(key, type)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.reads.add(key)
        return super().__contains__(key)


def recording(source: Any, reads: set[str]) -> Recorded:
    wrapped = Recorded(list(source.items(multi=True)))
    wrapped.reads = reads
    return wrapped


@dataclass
class Walk:
    """What the walk learnt and found for one app."""

    app: RoseQuart
    # endpoint -> the query parameters and form fields its view was seen to read
    args: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    form: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # endpoint -> real paths of it found by crawling
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    failures: list[str] = field(default_factory=list)
    requests: int = 0

    def install_recorder(self) -> None:
        """Record, on every request, which arguments and form fields the view reads."""

        async def record() -> None:
            endpoint = request.endpoint
            if endpoint is None:
                return
            req: Any = request._get_current_object()  # type: ignore[attr-defined]
            req.args = recording(req.args, self.args[endpoint])
            if req.method != "GET" and req.mimetype in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                try:
                    form = await req.form
                except HTTPException:
                    return
                req._form = recording(form, self.form[endpoint])

        self.app.before_request_funcs.setdefault(None, []).insert(0, record)


def placeholders(rule: Rule) -> list[tuple[str, str]]:
    """(argument, converter name) of each placeholder in the rule."""
    return [
        (arg, type(conv).__name__.lower().removesuffix("converter") or "default")
        for arg, conv in rule._converters.items()
    ]


def converter_kind(name: str) -> str:
    if name in ("integer", "int64"):
        return "int"
    if name == "path":
        return "path"
    return "default"


def fill(rule: Rule, values: dict[str, str]) -> str:
    """The rule's path with each placeholder replaced by the (raw, already encoded) value."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: values[m.group(1)], rule.rule)


def path_variants(rule: Rule, samples: list[str]) -> Iterator[str]:
    """Real paths of the rule, then each placeholder given each hostile value in turn."""
    yield from samples
    kinds = {arg: converter_kind(conv) for arg, conv in placeholders(rule)}
    benign = {arg: BENIGN[kind] for arg, kind in kinds.items()}
    if not kinds:
        yield rule.rule
        return
    # The other placeholders keep a real value where the crawl found one.
    base = dict(benign)
    for sample in samples[:1]:
        matched = match(rule, urlsplit(sample).path)
        if matched is not None:
            base.update({k: quote(str(v), safe="/") for k, v in matched.items() if k in kinds})
    yield fill(rule, base)
    for arg, kind in kinds.items():
        for value in PATH_HOSTILE[kind]:
            yield fill(rule, {**base, arg: value})


def match(rule: Rule, path: str) -> dict[str, Any] | None:
    adapter = rule.map.bind("localhost")
    try:
        endpoint, values = adapter.match(path, method=next(iter(rule.methods or {"GET"})))
    except HTTPException:
        return None
    return values if endpoint == rule.endpoint else None


class Walker:
    def __init__(
        self, walk: Walk, client: QuartClient, who: str, origin: str, visitor: Visitor
    ) -> None:
        self.walk = walk
        self.client = client
        self.who = who
        self.origin = origin
        self.visitor = visitor
        self.token = secrets.token_urlsafe(16)

    async def prepare(self) -> None:
        async with self.client.session_transaction() as cookie:
            cookie[SESSION_KEY] = self.token

    async def send(
        self,
        method: str,
        url: str,
        *,
        form: dict[str, str] | None = None,
        body: tuple[str, bytes] | None = None,
    ) -> int:
        headers = {"Accept": "text/html"}
        data: bytes | None = None
        if method != "GET":
            headers.update({HEADER: self.token, "Origin": self.origin})
            if body is not None:
                headers["Content-Type"], data = body
                # Well formed, so an inbox reads the body before it would fetch the key.
                headers["Signature"] = SIGNATURE
            else:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                data = urlencode(form or {}, safe="%").encode()
        path, _, query = url.partition("?")
        if internal_auth.is_internal_path(path):
            # Signed as the apps sign them: what a fragment reads is walked too.
            query, signed = internal_auth.sign(
                TEST_INTERNAL_SECRET,
                method,
                unquote(path),
                parse_qsl(query, keep_blank_values=True),
                self.visitor,
            )
            headers.update(signed)
            url = f"{path}?{query}" if query else path
        resp = await self.client.open(url, method=method, headers=headers, data=data)
        self.walk.requests += 1
        if resp.status_code >= 500:
            what = f" with {body[0]} {body[1][:40]!r}" if body else ""
            what = what or (f" with form {_short(form)}" if form else "")
            self.walk.failures.append(
                f"{self.who}: {method} {_short_url(url)}{what} -> {resp.status_code}"
            )
        return resp.status_code

    async def crawl(self, starts: list[str], limit: int = 120) -> None:
        """Follow the app's own links and form actions from ``starts``, keeping a few real
        paths of each endpoint."""
        adapter = self.walk.app.url_map.bind("localhost")
        queue, seen = list(starts), set(starts)
        fetched = 0
        while queue and fetched < limit:
            path = queue.pop(0)
            try:
                endpoint, _ = adapter.match(urlsplit(path).path, method="GET")
            except HTTPException:
                continue
            samples = self.walk.samples[endpoint]
            if path not in samples:
                if len(samples) >= SAMPLES_PER_ENDPOINT:
                    continue
                samples.append(path)
            resp = await self.client.get(path, headers={"Accept": "text/html"})
            fetched += 1
            if resp.status_code >= 500:
                self.walk.failures.append(f"{self.who}: crawling GET {path} -> 5xx")
            if resp.mimetype != "text/html":
                continue
            for link in LINK.findall(await resp.get_data(as_text=True)):
                link = link.replace("&amp;", "&")
                parts = urlsplit(link)
                if parts.netloc and link.startswith(("http://", "https://")):
                    if f"{parts.scheme}://{parts.netloc}" != self.origin:
                        continue
                    link = parts.path + (f"?{parts.query}" if parts.query else "")
                if not link.startswith("/") or link.startswith("//") or link in seen:
                    continue
                seen.add(link)
                queue.append(link)

    async def rule(self, rule: Rule) -> None:
        samples = self.walk.samples.get(rule.endpoint, [])
        paths = list(dict.fromkeys(path_variants(rule, samples)))
        # One real path reads what the others of its route read, except a fragment's: each
        # type is a view of its own behind the one route.
        internal = internal_auth.is_internal_path(rule.rule)
        bases = [urlsplit(s).path for s in samples[: None if internal else 1]] or paths[:1]
        for method in sorted(set(rule.methods or ()) & set(WALKED_METHODS)):
            for path in paths:
                await self.send(method, path)
            if method != "GET":
                for body in BODIES:
                    await self.send(method, paths[0], body=body)
            await self.parameters(rule, method, bases)

    async def parameters(self, rule: Rule, method: str, bases: list[str]) -> None:
        """Each query parameter and form field the view was seen to read, given each hostile
        value, until the view reads nothing new."""
        done: set[tuple[str, str]] = set()
        while True:
            todo = [("args", a) for a in sorted(self.walk.args[rule.endpoint])]
            if method != "GET":
                todo += [("form", f) for f in sorted(self.walk.form[rule.endpoint])]
            todo = [t for t in todo if t not in done]
            if not todo:
                return
            for where, name in todo:
                done.add((where, name))
                for base in bases:
                    for value in HOSTILE:
                        if where == "args":
                            sep = "&" if "?" in base else "?"
                            await self.send(method, f"{base}{sep}{quote(name)}={value}")
                        else:
                            await self.send(method, base, form={name: value})


def _short(form: dict[str, str] | None) -> str:
    return json.dumps({k: v[:40] for k, v in (form or {}).items()})


def _short_url(url: str) -> str:
    return url if len(url) < 120 else url[:100] + f"…({len(url)} chars)"


async def seed_demo(db: AsyncSession) -> None:
    for seeder in seeders():
        await seeder(db)
    await db.commit()


def walked_rules(app: RoseQuart) -> list[Rule]:
    rules = sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
    # Signing out ends the walker's sign-in: walk it last.
    return sorted(rules, key=lambda r: r.rule == "/auth/logout")


@pytest.mark.parametrize("name", APP_NAMES)
async def test_no_route_answers_hostile_input_with_a_5xx(
    make_app: AppMaker, db: AsyncSession, name: str
) -> None:
    await seed_demo(db)
    app = await make_app(name)
    walk = Walk(app)
    walk.install_recorder()
    origin = app.extensions["rose"].settings.apps[name].public_url

    walkers = [Walker(walk, app.test_client(), "anonymous", origin, Visitor())]
    for who, roles in (("member", ()), ("admin", ("admin",))):
        account = await make_member(db, f"walker_{who}", roles=roles)
        sign_in = await services().identity.start_session(db, account.id)
        await db.commit()
        client = await client_signed_in(app, account.id, sign_in.sid)
        walkers.append(Walker(walk, client, who, origin, Visitor(user_id=account.id)))
    # Fragments are never linked: each declared one is a real path of its route.
    provided = provided_fragments(app)
    for spec in provided.specs.values() if provided is not None else ():
        walk.samples["internal_fragment"].append(f"/internal/fragments/{spec.type}")
    starts = ["/", "/editor/", "/admin/users", "/admin/orders", "/social", "/my", "/settings"]
    for walker in walkers:
        await walker.prepare()
        await walker.crawl(starts)
    for walker in walkers:
        for rule in walked_rules(app):
            await walker.rule(rule)

    assert walk.requests > 100, "the walk must have walked"
    assert not walk.failures, f"{len(walk.failures)} 5xx answers:\n" + "\n".join(walk.failures)
