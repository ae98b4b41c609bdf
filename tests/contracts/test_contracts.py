"""Service contracts: every registered implementation satisfies its protocol, DTOs (never ORM
objects) cross the boundaries, and the implementations do what they promise."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import typing
from datetime import datetime
from typing import Any, Protocol

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

import shared.contracts as contracts
from shared.contracts import (
    CAPABILITIES,
    CartOwner,
    CartSummaryDTO,
    NavItemDTO,
    PersonalData,
    SellableProvider,
    UserDTO,
    implements,
)
from shared.contracts.services import Services
from shared.infrastructure.context import services, use_services
from shared.models import Base, CartItem, User
from shared.services.registry import build_services


def protocol_members(protocol: type) -> dict[str, Any]:
    """The methods a protocol declares (its own, not typing.Protocol's machinery)."""
    return {
        name: value
        for name, value in vars(protocol).items()
        if callable(value) and not name.startswith("_")
    }


def mismatches(protocol: type, impl: object) -> list[str]:
    """Why ``impl`` does not satisfy ``protocol`` (empty when it does)."""
    problems = []
    for name, declared in protocol_members(protocol).items():
        actual = getattr(impl, name, None)
        if actual is None or not callable(actual):
            problems.append(f"{name}: missing")
            continue
        if inspect.iscoroutinefunction(declared) != inspect.iscoroutinefunction(actual):
            problems.append(f"{name}: async in one and not the other")
        want = inspect.signature(declared)
        got = inspect.signature(actual.__func__ if inspect.ismethod(actual) else actual)
        shape = [(p.name, p.kind, p.default) for p in want.parameters.values()]
        if shape != [(p.name, p.kind, p.default) for p in got.parameters.values()]:
            problems.append(f"{name}: parameters {got} differ from {want}")
            continue
        if typing.get_type_hints(declared) != typing.get_type_hints(actual):
            problems.append(f"{name}: annotations differ")
    return problems


def registry_protocols() -> dict[str, type]:
    hints = typing.get_type_hints(Services)
    return {f.name: hints[f.name] for f in dataclasses.fields(Services)}


# The modules of shared/contracts that are not a domain's contract.
NOT_DOMAIN_MODULES = {"services", "errors"}


def contract_modules() -> list[typing.Any]:
    """shared/contracts/<domain>.py and common.py."""
    return [
        importlib.import_module(f"{contracts.__name__}.{info.name}")
        for info in pkgutil.iter_modules(contracts.__path__)
        if info.name not in NOT_DOMAIN_MODULES
    ]


def defined_names(module: typing.Any) -> set[str]:
    """The public names a module's own top-level statements define (not what it imports)."""
    names: set[str] = set()
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith("_")}


def test_the_package_exports_every_contract() -> None:
    """Callers import from ``shared.contracts``: every public name a contract module defines
    is exported there, once, as that very object."""
    assert len(set(contracts.__all__)) == len(contracts.__all__)
    defined = [(m, name) for m in contract_modules() for name in defined_names(m)]
    assert sorted(name for _, name in defined) == sorted(contracts.__all__)
    for module, name in defined:
        assert getattr(contracts, name) is getattr(module, name), f"{module.__name__}.{name}"


def _is_protocol(obj: object) -> bool:
    """A class declared as a typing.Protocol. (Not ``issubclass(obj, Protocol)``: that answer
    depends on who asked before, since ABCs cache it, and functools asks recklessly.)"""
    return inspect.isclass(obj) and bool(obj.__dict__.get("_is_protocol", False))


def test_every_domain_protocol_is_in_the_registry() -> None:
    declared = {
        obj
        for module in contract_modules()
        for obj in vars(module).values()
        if _is_protocol(obj) and obj.__module__ == module.__name__
    }
    # Capabilities a domain takes on as it grows are checked where implemented (below).
    declared -= set(CAPABILITIES)
    registered = set(registry_protocols().values())
    # Contracts several domains implement (what the cart sells) are bases of theirs.
    shared_bases = {base for p in registered for base in p.__mro__[1:] if base in declared}
    assert shared_bases == {SellableProvider}
    assert registered == declared - shared_bases
    assert {p.__name__ for p in registered} == {
        "IdentityService",
        "BlogService",
        "CatalogService",
        "CartService",
        "EventService",
        "NewsletterService",
        "FederationService",
        "CatalogImportService",
        "SocialService",
    }


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Services)])
def test_every_registered_implementation_satisfies_its_protocol(field: str) -> None:
    protocol = registry_protocols()[field]
    impl = getattr(services(), field)
    assert mismatches(protocol, impl) == []


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Services)])
def test_a_capability_is_implemented_whole_and_exactly_where_offered(field: str) -> None:
    """A service offering any method of a capability offers all of them, with exactly the
    declared signatures (callers check with ``implements`` and then rely on them)."""
    impl = getattr(services(), field)
    for capability in CAPABILITIES:
        names = protocol_members(capability)
        if any(hasattr(impl, name) for name in names):
            assert implements(impl, capability), (field, capability.__name__)
            assert mismatches(capability, impl) == [], (field, capability.__name__)


def test_the_capabilities_in_use_today() -> None:
    """Blog and newsletters hold personal data, among others."""
    holders = {
        f.name
        for f in dataclasses.fields(Services)
        if implements(getattr(services(), f.name), PersonalData)
    }
    assert {"blog", "newsletters", "cart", "events", "social"} <= holders
    assert not implements(object(), PersonalData)


def test_the_check_catches_a_wrong_implementation() -> None:
    """The conformance check above can fail: each kind of mismatch is reported."""

    # A one-method protocol of its own, so the example does not change as domains grow.
    class Navigation(Protocol):
        async def navigation(self, session: AsyncSession) -> tuple[NavItemDTO, ...]: ...

    class Missing:
        pass

    class NotAsync:
        def navigation(self, session: AsyncSession) -> tuple[NavItemDTO, ...]:
            return ()

    class OtherParameters:
        async def navigation(self, session: AsyncSession, limit: int) -> tuple[NavItemDTO, ...]:
            return ()

    class OtherTypes:
        async def navigation(self, session: AsyncSession) -> list[NavItemDTO]:
            return []

    assert mismatches(Navigation, Missing()) == ["navigation: missing"]
    assert "async" in mismatches(Navigation, NotAsync())[0]
    assert "parameters" in mismatches(Navigation, OtherParameters())[0]
    assert "annotations" in mismatches(Navigation, OtherTypes())[0]
    assert mismatches(Navigation, services().blog) == []


# What a protocol may take or return besides DTOs (a datetime is a value, like a number).
PLAIN_VALUES = (AsyncSession, int, str, bool, datetime, type(None))


def test_no_orm_model_crosses_a_domain_boundary() -> None:
    """Every type a protocol takes or returns is a DTO, a plain value or the session."""
    models = {m.class_ for m in Base.registry.mappers}
    dto_types = {
        obj
        for module in contract_modules()
        for obj in vars(module).values()
        if isinstance(obj, type) and dataclasses.is_dataclass(obj)
    }
    for protocol in registry_protocols().values():
        for name, method in protocol_members(protocol).items():
            for hint in typing.get_type_hints(method).values():
                for t in _types_in(hint):
                    assert t not in models, f"{protocol.__name__}.{name} uses the model {t}"
                    assert t in dto_types or t in PLAIN_VALUES, (
                        f"{protocol.__name__}.{name} uses {t}"
                    )
    for dto in dto_types:
        assert vars(dto)["__dataclass_params__"].frozen, f"{dto.__name__} must be frozen"


def _types_in(hint: Any) -> list[Any]:
    args = typing.get_args(hint)
    if not args:
        return [hint]
    return [t for arg in args if arg is not Ellipsis for t in _types_in(arg)]


def test_services_are_installed_explicitly_and_replaceable() -> None:
    first = services()
    other = build_services()
    assert other is not first
    previous = use_services(other)
    try:
        assert previous is first
        assert services() is other
    finally:
        use_services(first)
    use_services(None)
    try:
        with pytest.raises(RuntimeError, match="no services installed"):
            services()
    finally:
        use_services(first)


async def test_identity_returns_a_user_dto_for_active_accounts_only(db: AsyncSession) -> None:
    active = User(email="dto@example.test", username="dto_user", display_name="Dee Toe")
    gone = User(email="gone@example.test", username="gone_user", is_active=False)
    db.add_all([active, gone])
    await db.flush()
    user = await services().identity.get_user(db, active.id)
    assert user == UserDTO(
        id=active.id, username="dto_user", display_name="Dee Toe", roles=("member",)
    )
    assert user is not None
    assert user.name == "Dee Toe"
    assert await services().identity.get_user(db, gone.id) is None
    assert await services().identity.get_user(db, 10**12) is None


async def test_blog_navigation_is_the_seeded_default(db: AsyncSession) -> None:
    items = await services().blog.navigation(db)
    assert [(i.label, i.app, i.path, i.children) for i in items[:4]] == [
        ("Home", "blog", "/", ()),
        ("Market", "market", "/", ()),
        ("Events", "events", "/", ()),
        ("Community", "federation", "/", ()),
    ]
    assert all(isinstance(i, NavItemDTO) and i.id > 0 for i in items)


async def test_cart_summary_counts_one_owner_only(db: AsyncSession) -> None:
    ann = User(email="ann@example.test", username="ann_cart")
    bob = User(email="bob@example.test", username="bob_cart")
    db.add_all([ann, bob])
    await db.flush()
    key = "anon-cart-key-0123456789"
    await db.execute(
        insert(CartItem),
        [
            {"user_id": ann.id, "kind": "product", "item_id": 900001, "quantity": 2},
            {"user_id": ann.id, "kind": "product", "item_id": 900002, "quantity": 3},
            {"user_id": bob.id, "kind": "product", "item_id": 900003, "quantity": 1},
            {"cart_key": key, "kind": "product", "item_id": 900004, "quantity": 4},
        ],
    )
    cart = services().cart
    assert await cart.mini_summary(db, CartOwner(user_id=ann.id)) == CartSummaryDTO(5)
    assert await cart.mini_summary(db, CartOwner(user_id=bob.id)) == CartSummaryDTO(1)
    assert await cart.mini_summary(db, CartOwner(cart_key=key)) == CartSummaryDTO(4)
    assert await cart.mini_summary(db, CartOwner(cart_key="other-key-0123456789")) == (
        CartSummaryDTO(0)
    )


def test_a_cart_has_exactly_one_owner() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        CartOwner()
    with pytest.raises(ValueError, match="exactly one"):
        CartOwner(user_id=1, cart_key="k" * 20)
    with pytest.raises(dataclasses.FrozenInstanceError):
        CartOwner(user_id=1).user_id = 2  # type: ignore[misc]


# The domain packages each app may import for its own routes (errors, webhooks, pure helpers of
# its domain); everything else of a domain is reached through services().
OWN_DOMAINS = {
    "blog": ("blog",),
    "market": ("market",),
    "cart": ("cart",),
    "events": ("events",),
    "account": ("newsletters",),
    "federation": ("identity", "social", "federation"),
}


def test_domains_are_reached_only_through_services() -> None:
    """Policy: the platform never imports a domain; an app imports only its own domains'
    packages (and the registry, to build its services); the tooling may import any."""
    import ast

    from shared.config import APP_NAMES, REPO_ROOT

    roots = {"shared": REPO_ROOT / "shared", **{name: REPO_ROOT / name for name in APP_NAMES}}
    offenders = []
    for owner, root in roots.items():
        allowed = tuple(f"shared.services.{d}" for d in OWN_DOMAINS.get(owner, ()))
        for path in root.rglob("*.py"):
            if {REPO_ROOT / "shared" / "services", REPO_ROOT / "shared" / "tooling"} & set(
                path.parents
            ):
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                for name in names:
                    if not name.startswith("shared.services."):
                        continue
                    if name.startswith("shared.services.registry") and owner != "shared":
                        continue
                    if any(name == d or name.startswith(d + ".") for d in allowed):
                        continue
                    offenders.append(f"{path.relative_to(REPO_ROOT)}: {name}")
    assert offenders == []
