"""Typed settings for every Rose Ash process.

Non-secret settings come from ``_config/app-config.yaml`` (or the file named by
``ROSE_CONFIG_FILE``); any of them can be overridden by a ``ROSE_*`` environment
variable whose name is the setting's dotted path in upper case with ``__`` between
levels (``apps.blog.port`` -> ``ROSE_APPS__BLOG__PORT``). Secrets are read only from
the environment and are refused in the file.

A missing or malformed setting raises :class:`ConfigError`, whose message is one
line naming the setting and where it came from; the CLI prints exactly that line.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

APP_NAMES: tuple[str, ...] = ("blog", "market", "cart", "events", "federation", "account")
ENVIRONMENTS = ("dev", "test", "production")
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = REPO_ROOT / "_config" / "app-config.yaml"
ENV_PREFIX = "ROSE_"
# The worker's periodic Ghost sync: not more often than this (each run reads all of Ghost's
# ids for the reconcile), and at least once a week.
MIN_GHOST_SYNC_INTERVAL_S = 30
MAX_GHOST_SYNC_INTERVAL_S = 7 * 86_400


class ConfigError(Exception):
    """A setting is missing or malformed; ``str(err)`` is one line for a person."""


@dataclass(frozen=True)
class AppSettings:
    """Where one app listens and how it is reached."""

    port: int
    public_url: str
    internal_url: str


@dataclass(frozen=True)
class DatabaseSettings:
    pool_size: int = 10
    max_overflow: int = 5
    # How long a request waits for a pooled connection before it is answered "busy" (503).
    pool_timeout_s: float = 10.0
    statement_timeout_ms: int = 30_000
    lock_timeout_ms: int = 5_000
    connect_timeout_s: float = 5.0
    # How long `rose-ash migrate` waits for another migrator's lock before it gives up (a
    # deploy's migration step queues behind one still running; lock_timeout does not apply).
    migration_lock_wait_s: float = 1800.0


@dataclass(frozen=True)
class RedisSettings:
    """The most one Redis call (or connecting) may take: past it Redis counts as down and its
    callers go on without it (fragments fetched directly, pages rendered uncached)."""

    timeout_s: float = 0.5


@dataclass(frozen=True)
class GhostSettings:
    """Where the Ghost site to sync from lives (its keys are secrets, see :class:`Secrets`).

    ``url`` empty means no Ghost: the sync command refuses and the webhook answers 404.
    """

    url: str | None = None
    timeout_s: float = 10.0
    # A webhook is a trigger answered while Ghost waits (about 2 s): its re-read is short.
    webhook_timeout_s: float = 1.5
    webhook_window_s: int = 300
    # Ghost's timestamps are whole seconds: re-read a few seconds before the cursor.
    sync_overlap_s: int = 5
    page_size: int = 100
    # The worker's periodic sync (one run per interval, whatever the number of workers);
    # 0 turns it off (then only `rose-ash ghost-sync` and the webhooks sync).
    sync_interval_s: int = 900


@dataclass(frozen=True)
class ActivityPubSettings:
    """Federation: how far we trust remote servers and how hard we try to reach them."""

    # Remote fetches and deliveries refuse private, loopback and link-local addresses
    # (after DNS resolution) unless this is on; only tests and dev peers on loopback need it.
    allow_private_addresses: bool = False
    fetch_timeout_s: float = 10.0
    max_body_bytes: int = 1_048_576
    max_redirects: int = 3
    # Mastodon accepts a Date up to an hour either side; so do we.
    signature_window_s: int = 3600
    remote_actor_ttl_s: int = 86_400
    # A cached key that fails to verify is fetched again (the actor may have rotated it) at
    # most once per key in this many seconds: bad signatures cannot make us fetch on demand.
    key_refetch_interval_s: int = 300
    delivery_timeout_s: float = 15.0
    delivery_concurrency: int = 64
    delivery_per_host: int = 8
    delivery_batch: int = 500
    delivery_max_attempts: int = 16
    # Backoff before attempt n+1: base * n**4 seconds plus up to 20% jitter (Mastodon's shape).
    delivery_backoff_base_s: float = 15.0
    delivery_backoff_max_s: float = 86_400.0
    # A host whose deliveries have failed continuously for this long (and at least this many
    # times) is skipped, except for one probe per interval, until it answers again.
    host_unavailable_after_s: int = 604_800
    host_unavailable_min_failures: int = 10
    host_probe_interval_s: int = 3600
    worker_poll_interval_s: float = 1.0
    outbox_page_size: int = 20
    # A product or market page is (re-)announced once its changes have been quiet this long:
    # a burst of edits, sales or an import reaches followers as one activity.
    object_quiet_s: float = 300.0
    # Mastodon's "secure mode": ActivityPub JSON only to signed GETs from servers not blocked
    # (the app actors' documents, WebFinger and NodeInfo stay public).
    authorized_fetch: bool = False


@dataclass(frozen=True)
class SmtpSettings:
    """Where emails go. An empty host writes each email to the log instead (dev)."""

    host: str = ""
    port: int = 25
    from_address: str = "Rose Ash <noreply@rose-ash.test>"
    starttls: bool = False
    username: str = ""
    timeout_s: float = 10.0


@dataclass(frozen=True)
class OAuthSettings:
    """Lifetimes of the single sign-on credentials (seconds)."""

    code_ttl_s: int = 60
    access_token_ttl_s: int = 3600
    refresh_token_ttl_s: int = 1_209_600
    session_ttl_s: int = 1_209_600
    # How long an app may trust its cached answer to "is this sid still signed in?".
    session_check_cache_s: int = 5
    http_timeout_s: float = 5.0
    # The sign-in generation cookie federation sets for every app to read (silent sign-on
    # re-checks, decision 0071): the parent domain in production (".rose-ash.com"); empty:
    # host-only (dev, where every app is on 127.0.0.1 and cookies ignore the port).
    cookie_domain: str = ""


@dataclass(frozen=True)
class InstanceSettings:
    """How the instance describes itself to fediverse directories and apps (the Mastodon API's
    ``/api/v1/instance`` and ``/api/v2/instance`` on federation's host)."""

    description: str = "A cooperative café, food co-op and community venue."
    contact_email: str = ""
    # One rule per line.
    rules: str = ""
    # Comma-separated ISO 639 codes.
    languages: str = "en"


@dataclass(frozen=True)
class AccountSettings:
    """Sign-up, email verification and password reset."""

    # Whether strangers may sign up at federation's /signup (NodeInfo's openRegistrations).
    open_registrations: bool = True
    verify_email_ttl_s: int = 86_400
    reset_ttl_s: int = 3_600
    min_password_length: int = 10
    # argon2id cost (RFC 9106's second recommendation); tune to the hardware. Hashes made
    # with other parameters are upgraded at the next sign-in.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65_536
    argon2_parallelism: int = 4


@dataclass(frozen=True)
class Limit:
    """At most ``per_account`` and ``per_address`` attempts in ``window_s`` (0 = no limit)."""

    per_account: int = 5
    per_address: int = 30
    window_s: int = 900


@dataclass(frozen=True)
class RateLimitSettings:
    signin: Limit = field(default_factory=Limit)
    reset: Limit = field(default_factory=Limit)
    signup: Limit = field(default_factory=Limit)
    password: Limit = field(default_factory=Limit)
    # Cart changes and checkouts (every app's add-to-cart form, the cart app's forms).
    cart: Limit = field(
        default_factory=lambda: Limit(per_account=300, per_address=1000, window_s=600)
    )
    # Newsletter sign-ups from the public form (each sends a confirmation email).
    subscribe: Limit = field(default_factory=Limit)
    # Everything a member does in the social hub (posting, following, liking...).
    social: Limit = field(
        default_factory=lambda: Limit(per_account=120, per_address=600, window_s=600)
    )


@dataclass(frozen=True)
class NewsletterSettings:
    """Sending newsletters (the worker): at most ``rate_per_s`` messages a second, up to
    ``batch`` per worker cycle; a temporary SMTP failure is retried after ``retry_after_s``
    times the attempt number, up to ``max_attempts``; ``pause_after_refusals`` refusals of the
    message or the relay in a row (not of a recipient) pause the issue; confirmation links
    last ``confirm_ttl_s``."""

    rate_per_s: float = 5.0
    batch: int = 200
    max_attempts: int = 5
    retry_after_s: float = 300.0
    pause_after_refusals: int = 5
    confirm_ttl_s: int = 604_800


@dataclass(frozen=True)
class FragmentSettings:
    """How pages fetch and cache other apps' fragments (shared/infrastructure/fragments/)."""

    # Whole budget of one fragment fetch (connect, request, response), so a slow app costs a
    # page at most this long.
    timeout_s: float = 1.0
    # Used when a provider's answer does not say how long it may be cached.
    default_ttl_s: int = 60
    # How long the last good copy of a fragment is kept to stand in while its app is down.
    last_good_ttl_s: int = 86_400
    # After an app or Redis fails, how long pages stop asking it before trying again.
    retry_after_s: float = 5.0
    # A fragment larger than this is refused (a bug in its app, not something to render).
    max_bytes: int = 262_144


@dataclass(frozen=True)
class PageCacheSettings:
    """Anonymous visitors' pages cached whole (shared/infrastructure/pagecache.py)."""

    enabled: bool = True
    # The longest a cached page lives: the bound for anything that changes without bumping a
    # version (a write in raw SQL, a fragment that expires on its own clock).
    ttl_s: int = 60


@dataclass(frozen=True)
class InternalSettings:
    """Signed requests between the apps (shared/infrastructure/internal_auth.py)."""

    # A signed request older (or further in the future) than this is refused: replays are
    # bounded by it, so it only needs to cover clock drift between hosts.
    clock_window_s: int = 30


@dataclass(frozen=True)
class Secrets:
    """Values that never live in a file: each comes from the named environment variable."""

    database_url: str | None = None
    migrate_database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    internal_secret: str | None = None
    ap_private_key: str | None = None
    ghost_content_key: str | None = None
    ghost_admin_key: str | None = None
    ghost_webhook_secret: str | None = None
    oidc_private_key: str | None = None
    smtp_password: str | None = None
    sumup_api_key: str | None = None
    sumup_merchant_code: str | None = None
    metrics_token: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None


SECRET_ENV: dict[str, str] = {
    "database_url": "DATABASE_URL",
    # The schema owner's connection, used by `rose-ash migrate` (and `rose-ash db roles`) only;
    # unset, migrations use DATABASE_URL. In production the apps' DATABASE_URL is a role that
    # may read and write rows but not change the schema (docs/DEPLOYMENT.md).
    "migrate_database_url": "MIGRATE_DATABASE_URL",
    "redis_url": "REDIS_URL",
    "secret_key": "ROSE_SECRET_KEY",
    "internal_secret": "ROSE_INTERNAL_SECRET",
    # The PEM of the RSA key (>= 2048 bits) that signs every app actor's activities.
    "ap_private_key": "ROSE_AP_PRIVATE_KEY",
    "ghost_content_key": "ROSE_GHOST_CONTENT_KEY",
    "ghost_admin_key": "ROSE_GHOST_ADMIN_KEY",
    "ghost_webhook_secret": "ROSE_GHOST_WEBHOOK_SECRET",
    # PEM of the RSA key that signs ID tokens (federation) and back-channel logout tokens (worker).
    "oidc_private_key": "ROSE_OIDC_PRIVATE_KEY",
    "smtp_password": "ROSE_SMTP_PASSWORD",
    # SumUp (the cart's payments): the API key and the merchant code it is paid to.
    "sumup_api_key": "ROSE_SUMUP_API_KEY",
    "sumup_merchant_code": "ROSE_SUMUP_MERCHANT_CODE",
    # The bearer token Prometheus sends to /metrics; unset, /metrics answers 404 (metrics.py).
    "metrics_token": "ROSE_METRICS_TOKEN",
    # The media's object store (media.backend: s3): its access key.
    "s3_access_key_id": "ROSE_S3_ACCESS_KEY_ID",
    "s3_secret_access_key": "ROSE_S3_SECRET_ACCESS_KEY",
}


@dataclass(frozen=True)
class SumUpSettings:
    """Where SumUp is (docs/EXTERNAL-APIS.md). In dev, ``rose-ash up`` serves a stand-in that
    speaks the same contract when no ROSE_SUMUP_API_KEY is set, and points ``base_url`` at it;
    production refuses anything but an https address."""

    base_url: str = "https://api.sumup.com"
    # Where SumUp's hosted checkout page is (its ``hosted_checkout_url``s): the checkout form
    # is allowed to lead there (CSP form-action), so "Place order and pay" lands on it. The
    # stand-in serves its page from ``base_url``, which is allowed too.
    hosted_checkout_origin: str = "https://checkout.sumup.com"
    timeout_s: float = 10.0
    # The port `rose-ash up` serves the stand-in on.
    standin_port: int = 8009


@dataclass(frozen=True)
class CartSettings:
    """Carts, checkout and orders."""

    currency: str = "GBP"
    # How long an unpaid order holds its stock before the worker gives it back.
    reservation_ttl_s: int = 1800
    # Pending checkouts are re-read from SumUp by the worker this long after the last read
    # (so a lost webhook never leaves a paid order unpaid).
    poll_interval_s: int = 30
    # The anonymous cart-key cookie is shared by every app: in production the apps are
    # subdomains, so this is the parent domain (".rose-ash.com"); empty: host-only (dev, where
    # every app is on 127.0.0.1 and cookies ignore the port).
    cookie_domain: str = ""
    cookie_max_age_s: int = 2_592_000


@dataclass(frozen=True)
class MediaSettings:
    """Uploaded files (feature images): stored under ``root`` (a directory; relative to the
    working directory), served by the blog under ``url_path``, at most ``max_bytes`` each."""

    root: str = ".devdata/media"
    url_path: str = "/media"
    max_bytes: int = 5 * 1024 * 1024
    # Uploads are decoded and re-encoded: at most this many pixels on the longer side, larger
    # ones refused (not scaled); at most ``max_total_pixels`` over all of an animation's
    # frames; and at most ``work_budget_s`` seconds of work each.
    max_dimension: int = 4096
    max_total_pixels: int = 64_000_000
    work_budget_s: float = 10.0
    # Where the files live: "filesystem" (under ``root``; `rose-ash up`'s) or "s3", an object
    # store speaking the S3 API that every node reaches (shared/infrastructure/objectstore.py).
    # The URLs are the same either way.
    backend: str = "filesystem"
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    # Prepended to every key (``images/<sha256>.<ext>``): several sites may share a bucket.
    s3_prefix: str = ""
    # From ROSE_S3_ACCESS_KEY_ID and ROSE_S3_SECRET_ACCESS_KEY only (never the file).
    s3_access_key_id: str = field(default="", repr=False)
    s3_secret_access_key: str = field(default="", repr=False)
    # Where the worker finds each domain's files to erase them (decision 0112), when they are
    # not under ``root``: in the stack the blog's and the social hub's uploads are separate
    # volumes, mounted into the worker at these paths. Empty: ``root`` (one directory, as in
    # `rose-ash up`). Unused with the object store, where every domain's files share the bucket.
    blog_root: str = ""
    social_root: str = ""


@dataclass(frozen=True)
class ScrapeSettings:
    """The market's importer of supplier catalogues (shared/services/market/scrape/).

    ``allow_addresses`` lists networks the crawler may reach although they are not public
    (comma-separated, ``127.0.0.1/32``): empty in production, loopback in dev for the demo
    supplier site, set by the tests for their local sites.
    """

    allow_addresses: str = ""
    # Named in the User-Agent (with the market's public URL) and matched in robots.txt.
    robots_token: str = "RoseAshBot"  # noqa: S105 - a crawler name, not a secret
    timeout_s: float = 15.0
    max_body_bytes: int = 2_097_152
    max_redirects: int = 5
    # Pages per run (a source's settings may ask for fewer, never more).
    max_pages: int = 500
    # Per host: at least this long between two requests; a robots.txt Crawl-delay may ask
    # for more, up to max_delay_s.
    min_delay_s: float = 1.0
    max_delay_s: float = 30.0
    # How many sources one worker crawls at once (one run per source across all workers).
    worker_concurrency: int = 2
    # Where `rose-ash up --demo` serves the demo supplier's site (loopback).
    demo_site_port: int = 8010


@dataclass(frozen=True)
class Settings:
    environment: str
    site_name: str
    apps: dict[str, AppSettings]
    # The IANA zone every date and time is shown in (events keep their own zone).
    time_zone: str = "Europe/London"
    cookie_secure: bool = False
    log_level: str = "INFO"
    devdata_dir: str = ".devdata"
    readiness_timeout_s: float = 2.0
    # Where `rose-ash worker` serves /metrics (host:port); empty, or no ROSE_METRICS_TOKEN: none.
    worker_metrics_bind: str = ""
    # How many reverse proxies in front of the apps append to X-Forwarded-For (0: none, use
    # the peer address); per-address rate limits need the real client address.
    trusted_proxy_hops: int = 0
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    activitypub: ActivityPubSettings = field(default_factory=ActivityPubSettings)
    ghost: GhostSettings = field(default_factory=GhostSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    oauth: OAuthSettings = field(default_factory=OAuthSettings)
    accounts: AccountSettings = field(default_factory=AccountSettings)
    instance: InstanceSettings = field(default_factory=InstanceSettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    newsletters: NewsletterSettings = field(default_factory=NewsletterSettings)
    fragments: FragmentSettings = field(default_factory=FragmentSettings)
    pagecache: PageCacheSettings = field(default_factory=PageCacheSettings)
    internal: InternalSettings = field(default_factory=InternalSettings)
    scrape: ScrapeSettings = field(default_factory=ScrapeSettings)
    sumup: SumUpSettings = field(default_factory=SumUpSettings)
    cart: CartSettings = field(default_factory=CartSettings)
    secrets: Secrets = field(default_factory=Secrets)
    source: str = ""

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def app(self, name: str) -> AppSettings:
        return self.apps[name]

    def require(self, secret: str) -> str:
        """The value of a secret, or a ConfigError naming its variable."""
        value = getattr(self.secrets, secret)
        if not value:
            raise ConfigError(f"{SECRET_ENV[secret]} is not set (environment variable)")
        return str(value)

    def devdata_path(self) -> Path:
        path = Path(self.devdata_dir)
        return path if path.is_absolute() else REPO_ROOT / path


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the config file, apply ``ROSE_*`` overrides and the secrets, validate."""
    env = os.environ if environ is None else environ
    file = Path(path or env.get("ROSE_CONFIG_FILE") or DEFAULT_CONFIG_FILE)
    raw = _read_yaml(file)
    for name in SECRET_ENV:
        if name in raw:
            raise ConfigError(
                f"{name}: secrets must not be in {file}; set {SECRET_ENV[name]} in the environment"
            )
    # An empty override is a value: ROSE_SCRAPE__ALLOW_ADDRESSES="" clears the file's list.
    overrides = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    raw["secrets"] = {name: env[var] for name, var in SECRET_ENV.items() if env.get(var)}
    media = raw.get("media")
    for name in ("s3_access_key_id", "s3_secret_access_key"):
        if (isinstance(media, dict) and name in media) or _env_name(("media", name)) in env:
            raise ConfigError(f"media.{name}: set {SECRET_ENV[name]} in the environment instead")
    settings: Settings = _build(Settings, raw, (), file, overrides)
    settings = dataclasses.replace(
        settings,
        media=dataclasses.replace(
            settings.media,
            s3_access_key_id=settings.secrets.s3_access_key_id or "",
            s3_secret_access_key=settings.secrets.s3_secret_access_key or "",
        ),
    )
    _validate(settings, file)
    return dataclasses.replace(settings, source=str(file))


def _read_yaml(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {file} not found (set ROSE_CONFIG_FILE)") from None
    except OSError as err:
        raise ConfigError(f"config file {file} cannot be read: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {file} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {file} must hold a mapping of settings at its top level")
    return data


def _env_name(path: tuple[str, ...]) -> str:
    return ENV_PREFIX + "__".join(p.upper() for p in path)


def _build(
    cls: type[Any],
    raw: Any,
    path: tuple[str, ...],
    file: Path,
    overrides: Mapping[str, str],
) -> Any:
    dotted = ".".join(path) or "(top level)"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{dotted}: expected a mapping in {file}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "source"}
    unknown = sorted(set(raw) - known)
    if unknown:
        name = ".".join((*path, str(unknown[0])))
        raise ConfigError(f"{name}: unknown setting in {file}")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name == "source":
            continue
        sub = (*path, f.name)
        hint = hints[f.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            if f.name == "secrets":
                values[f.name] = Secrets(**raw.get("secrets", {}))
            else:
                values[f.name] = _build(hint, raw.get(f.name), sub, file, overrides)
            continue
        if typing.get_origin(hint) is dict:
            values[f.name] = _build_apps(raw.get(f.name), sub, file, overrides)
            continue
        env_name = _env_name(sub)
        if env_name in overrides:
            values[f.name] = _coerce(overrides[env_name], hint, f"{env_name} (environment)")
        elif f.name in raw:
            values[f.name] = _coerce(raw[f.name], hint, f"{'.'.join(sub)} in {file}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{'.'.join(sub)}: missing in {file} (or set {env_name})")
    return cls(**values)


def _build_apps(
    raw: Any, path: tuple[str, ...], file: Path, overrides: Mapping[str, str]
) -> dict[str, AppSettings]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{'.'.join(path)}: missing in {file} (one entry per app)")
    apps = {}
    for name in APP_NAMES:
        if name not in raw:
            raise ConfigError(f"{'.'.join((*path, name))}: missing in {file}")
        apps[name] = _build(AppSettings, raw[name], (*path, name), file, overrides)
    extra = sorted(set(raw) - set(APP_NAMES))
    if extra:
        raise ConfigError(f"{'.'.join((*path, str(extra[0])))}: not a Rose Ash app in {file}")
    return apps


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or value == "":
            return None
        return _coerce(value, args[0], where)
    if hint is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(str(value).strip())
        except ValueError:
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if hint is float:
        try:
            return float(str(value).strip())
        except ValueError:
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if hint is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected text, got a {type(value).__name__}")
        return str(value)
    raise ConfigError(f"{where}: unsupported setting type {hint!r}")  # pragma: no cover


def _validate(settings: Settings, file: Path) -> None:
    if settings.environment not in ENVIRONMENTS:
        raise ConfigError(
            f"environment: must be one of {', '.join(ENVIRONMENTS)}, got "
            f"{settings.environment!r} (in {file} or ROSE_ENVIRONMENT)"
        )
    for name, app in settings.apps.items():
        if not 1 <= app.port <= 65535:
            raise ConfigError(f"apps.{name}.port: {app.port} is not a TCP port")
        for attr in ("public_url", "internal_url"):
            url = getattr(app, attr)
            if not url.startswith(("http://", "https://")) or url.endswith("/"):
                raise ConfigError(
                    f"apps.{name}.{attr}: {url!r} must be an http(s) URL without a trailing slash"
                )
    ghost_url = settings.ghost.url
    if ghost_url is not None and (
        not ghost_url.startswith(("http://", "https://")) or ghost_url.endswith("/")
    ):
        raise ConfigError(
            f"ghost.url: {ghost_url!r} must be an http(s) URL without a trailing slash"
        )
    url_path = settings.media.url_path
    if not re.fullmatch(r"(/[a-z0-9_-]+)+", url_path):
        raise ConfigError(
            f"media.url_path: {url_path!r} must be a path like /media (no trailing /)"
        )
    if settings.media.max_bytes < 1:
        raise ConfigError("media.max_bytes: must be at least 1")
    if settings.media.max_dimension < 16:
        raise ConfigError("media.max_dimension: must be at least 16")
    _validate_media(settings.media)
    if settings.newsletters.rate_per_s <= 0 or settings.newsletters.batch < 1:
        raise ConfigError("newsletters.rate_per_s and newsletters.batch: must be positive")
    if settings.ghost.page_size not in range(1, 101):
        raise ConfigError("ghost.page_size: must be between 1 and 100 (Ghost caps limit at 100)")
    interval = settings.ghost.sync_interval_s
    if interval != 0 and not MIN_GHOST_SYNC_INTERVAL_S <= interval <= MAX_GHOST_SYNC_INTERVAL_S:
        raise ConfigError(
            f"ghost.sync_interval_s: 0 (off) or {MIN_GHOST_SYNC_INTERVAL_S} to "
            f"{MAX_GHOST_SYNC_INTERVAL_S} seconds, got {interval}"
        )
    oauth = settings.oauth
    if not 1 <= oauth.code_ttl_s <= 60:
        raise ConfigError("oauth.code_ttl_s: authorization codes must live between 1 and 60 s")
    if not 0 <= oauth.session_check_cache_s <= 30:
        raise ConfigError("oauth.session_check_cache_s: must be between 0 and 30 s")
    if settings.trusted_proxy_hops < 0:
        raise ConfigError("trusted_proxy_hops: must not be negative")
    frag = settings.fragments
    for name, value, minimum in (
        ("fragments.timeout_s", frag.timeout_s, 0.01),
        ("pagecache.ttl_s", settings.pagecache.ttl_s, 1),
        ("fragments.default_ttl_s", frag.default_ttl_s, 0),
        ("fragments.last_good_ttl_s", frag.last_good_ttl_s, 1),
        ("fragments.retry_after_s", frag.retry_after_s, 0),
        ("fragments.max_bytes", frag.max_bytes, 1),
        ("internal.clock_window_s", settings.internal.clock_window_s, 1),
    ):
        if value < minimum:
            raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
    _validate_scrape(settings.scrape)
    if settings.production:
        for secret in (
            "database_url",
            "redis_url",
            "secret_key",
            "internal_secret",
            "ap_private_key",
        ):
            settings.require(secret)
        if not settings.cookie_secure:
            raise ConfigError("cookie_secure: must be true in production")
        if not settings.smtp.host:
            # Without it, sign-up and reset links would be written to the log.
            raise ConfigError("smtp.host: must be set in production (or ROSE_SMTP__HOST)")
        if settings.smtp.username:
            settings.require("smtp_password")
    try:
        ZoneInfo(settings.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"time_zone: {settings.time_zone!r} is not an IANA time zone such as Europe/London"
        ) from None
    sumup_url = settings.sumup.base_url
    if not sumup_url.startswith(("http://", "https://")) or sumup_url.endswith("/"):
        raise ConfigError(
            f"sumup.base_url: {sumup_url!r} must be an http(s) URL without a trailing slash"
        )
    if settings.production and not sumup_url.startswith("https://"):
        # The dev stand-in (plain http on loopback) takes no money: never in production.
        raise ConfigError("sumup.base_url: production takes payments from SumUp itself (https)")
    if settings.cart.reservation_ttl_s < 60:
        raise ConfigError("cart.reservation_ttl_s: must be at least 60")
    currency = settings.cart.currency
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise ConfigError(f"cart.currency: {currency!r} is not an ISO 4217 code such as GBP")
    key = settings.secrets.secret_key
    if key is not None and len(key) < 32:
        raise ConfigError("ROSE_SECRET_KEY (environment variable): must be at least 32 characters")


def _validate_media(media: MediaSettings) -> None:
    if media.backend not in ("filesystem", "s3"):
        raise ConfigError(f"media.backend: 'filesystem' or 's3', got {media.backend!r}")
    if media.backend != "s3":
        return
    if not media.s3_bucket:
        raise ConfigError("media.s3_bucket: must be set when media.backend is s3")
    endpoint = media.s3_endpoint_url
    if endpoint and (not endpoint.startswith(("http://", "https://")) or endpoint.endswith("/")):
        raise ConfigError(
            f"media.s3_endpoint_url: {endpoint!r} must be an http(s) URL without a trailing slash"
        )
    if bool(media.s3_access_key_id) != bool(media.s3_secret_access_key):
        raise ConfigError(
            "ROSE_S3_ACCESS_KEY_ID and ROSE_S3_SECRET_ACCESS_KEY (environment): set both or neither"
        )


def _validate_scrape(scrape: ScrapeSettings) -> None:
    import ipaddress

    for part in scrape.allow_addresses.split(","):
        if part.strip():
            try:
                ipaddress.ip_network(part.strip(), strict=False)
            except ValueError:
                raise ConfigError(
                    f"scrape.allow_addresses: {part.strip()!r} is not an address or network"
                ) from None
    for name, value, minimum in (
        ("scrape.timeout_s", scrape.timeout_s, 0.1),
        ("scrape.max_body_bytes", scrape.max_body_bytes, 1024),
        ("scrape.max_redirects", scrape.max_redirects, 0),
        ("scrape.max_pages", scrape.max_pages, 1),
        ("scrape.min_delay_s", scrape.min_delay_s, 0),
        ("scrape.max_delay_s", scrape.max_delay_s, 0),
        ("scrape.worker_concurrency", scrape.worker_concurrency, 1),
    ):
        if value < minimum:
            raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", scrape.robots_token):
        raise ConfigError("scrape.robots_token: letters, digits, - and _ only")
