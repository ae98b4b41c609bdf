"""Settings: file, ROSE_* overrides, secrets from the environment, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import DEFAULT_CONFIG_FILE, ConfigError, load_settings

SECRETS = {"ROSE_SECRET_KEY": "k" * 40}


def test_defaults_come_from_the_committed_file() -> None:
    settings = load_settings(environ={})
    assert settings.environment == "dev"
    assert settings.apps["blog"].port == 8001
    assert settings.apps["account"].public_url == "http://127.0.0.1:8006"
    assert settings.source == str(DEFAULT_CONFIG_FILE)


def test_environment_overrides_nested_settings() -> None:
    settings = load_settings(
        environ={
            "ROSE_APPS__BLOG__PORT": "9001",
            "ROSE_COOKIE_SECURE": "yes",
            "ROSE_LOG_LEVEL": "DEBUG",
        }
    )
    assert settings.apps["blog"].port == 9001
    assert settings.cookie_secure is True
    assert settings.log_level == "DEBUG"


def test_an_empty_override_sets_the_setting_to_empty() -> None:
    assert load_settings(environ={}).scrape.allow_addresses == "127.0.0.1/32"
    settings = load_settings(environ={"ROSE_SCRAPE__ALLOW_ADDRESSES": ""})
    assert settings.scrape.allow_addresses == ""
    with pytest.raises(ConfigError, match="ROSE_APPS__BLOG__PORT"):
        load_settings(environ={"ROSE_APPS__BLOG__PORT": ""})


def test_fragment_settings_come_from_the_file_and_the_environment() -> None:
    settings = load_settings(environ={"ROSE_FRAGMENTS__TIMEOUT_S": "0.25"})
    assert settings.fragments.timeout_s == 0.25
    assert settings.fragments.default_ttl_s == 60
    assert settings.fragments.last_good_ttl_s == 86_400
    assert settings.internal.clock_window_s == 30


def test_secrets_come_only_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(environ={"DATABASE_URL": "postgresql://x/y", **SECRETS})
    assert settings.require("database_url") == "postgresql://x/y"
    with pytest.raises(ConfigError, match=r"^REDIS_URL is not set \(environment variable\)$"):
        settings.require("redis_url")
    bad = tmp_path / "c.yaml"
    bad.write_text(DEFAULT_CONFIG_FILE.read_text() + "\nsecret_key: hunter2\n")
    with pytest.raises(ConfigError, match="secrets must not be in"):
        load_settings(bad, environ={})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"ROSE_APPS__BLOG__PORT": "eighty"},
            "ROSE_APPS__BLOG__PORT (environment): expected an integer, got 'eighty'",
        ),
        (
            {"ROSE_COOKIE_SECURE": "maybe"},
            "ROSE_COOKIE_SECURE (environment): expected true or false, got 'maybe'",
        ),
        ({"ROSE_APPS__CART__PORT": "70000"}, "apps.cart.port: 70000 is not a TCP port"),
        ({"ROSE_ENVIRONMENT": "staging"}, "environment: must be one of dev, test, production"),
        ({"ROSE_ENVIRONMENT": "production"}, "DATABASE_URL is not set (environment variable)"),
        (
            {"ROSE_OAUTH__CODE_TTL_S": "600"},
            "oauth.code_ttl_s: authorization codes must live between 1 and 60 s",
        ),
        (
            {"ROSE_OAUTH__SESSION_CHECK_CACHE_S": "300"},
            "oauth.session_check_cache_s: must be between 0 and 30 s",
        ),
        (
            {
                "ROSE_ENVIRONMENT": "production",
                "DATABASE_URL": "postgresql://db/rose",
                "REDIS_URL": "redis://redis:6379/0",
                "ROSE_SECRET_KEY": "k" * 40,
                "ROSE_INTERNAL_SECRET": "i" * 40,
            },
            "ROSE_AP_PRIVATE_KEY is not set (environment variable)",
        ),
        (
            {
                "ROSE_ENVIRONMENT": "production",
                "DATABASE_URL": "postgresql://db/rose",
                "REDIS_URL": "redis://redis:6379/0",
                "ROSE_SECRET_KEY": "k" * 40,
                "ROSE_INTERNAL_SECRET": "i" * 40,
                "ROSE_AP_PRIVATE_KEY": "a PEM",
                "ROSE_COOKIE_SECURE": "true",
            },
            "smtp.host: must be set in production",
        ),
        (
            {"ROSE_SECRET_KEY": "short"},
            "ROSE_SECRET_KEY (environment variable): must be at least 32 characters",
        ),
        (
            {"ROSE_APPS__BLOG__PUBLIC_URL": "blog.example"},
            "apps.blog.public_url: 'blog.example' must be an http(s) URL",
        ),
        ({"ROSE_FRAGMENTS__TIMEOUT_S": "0"}, "fragments.timeout_s: must be at least 0.01"),
        (
            {"ROSE_FRAGMENTS__TIMEOUT_S": "soon"},
            "ROSE_FRAGMENTS__TIMEOUT_S (environment): expected a number, got 'soon'",
        ),
        ({"ROSE_INTERNAL__CLOCK_WINDOW_S": "0"}, "internal.clock_window_s: must be at least 1"),
        (
            {"ROSE_TIME_ZONE": "Mars/Olympus"},
            "time_zone: 'Mars/Olympus' is not an IANA time zone such as Europe/London",
        ),
    ],
)
def test_malformed_settings_give_one_line(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ=environ)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apps: [1, 2", "is not valid YAML at line"),
        ("- just\n- a list\n", "must hold a mapping"),
        ("environment: dev\nsite_name: x\n", "apps: missing in"),
        ("environment: dev\n", "site_name: missing in"),
        ("environment: dev\nsite_name: x\ncolour: red\n", "colour: unknown setting in"),
    ],
)
def test_malformed_files_give_one_line(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "app-config.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(file, environ={})
    assert message in str(err.value)
    assert str(file) in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_names_itself(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nope\.yaml not found"):
        load_settings(environ={"ROSE_CONFIG_FILE": str(tmp_path / "nope.yaml")})


def test_cli_prints_one_line_and_no_traceback() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSE_")}
    env["ROSE_APPS__MARKET__PORT"] = "not-a-port"
    result = subprocess.run(
        [sys.executable, "-m", "shared.tooling.cli", "serve", "market"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "rose-ash: error: ROSE_APPS__MARKET__PORT (environment): "
        "expected an integer, got 'not-a-port'"
    )
    assert "Traceback" not in result.stderr + result.stdout


def test_ghost_settings_and_secrets() -> None:
    settings = load_settings(environ={})
    assert settings.ghost.url is None
    assert settings.ghost.page_size == 100
    settings = load_settings(
        environ={
            "ROSE_GHOST__URL": "https://ghost.rose-ash.test",
            "ROSE_GHOST__SYNC_OVERLAP_S": "10",
            "ROSE_GHOST_CONTENT_KEY": "a" * 26,
            "ROSE_GHOST_ADMIN_KEY": "id:" + "b" * 64,
            "ROSE_GHOST_WEBHOOK_SECRET": "hook",
        }
    )
    assert settings.ghost.url == "https://ghost.rose-ash.test"
    assert settings.ghost.sync_overlap_s == 10
    assert settings.secrets.ghost_content_key == "a" * 26
    assert settings.secrets.ghost_admin_key == "id:" + "b" * 64
    assert settings.secrets.ghost_webhook_secret == "hook"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ROSE_GHOST__URL": "ghost.rose-ash.test"}, "ghost.url: 'ghost.rose-ash.test' must be"),
        ({"ROSE_GHOST__URL": "https://ghost.test/"}, "without a trailing slash"),
        ({"ROSE_GHOST__PAGE_SIZE": "500"}, "ghost.page_size: must be between 1 and 100"),
    ],
)
def test_bad_ghost_settings_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ)


def test_ghost_keys_are_refused_in_the_file(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(DEFAULT_CONFIG_FILE.read_text() + "\nghost_content_key: abc\n")
    with pytest.raises(ConfigError, match="ghost_content_key: secrets must not be in"):
        load_settings(config, environ={})


def test_the_media_object_store_is_chosen_by_the_environment_with_its_key_from_secrets() -> None:
    env = {
        "ROSE_MEDIA__BACKEND": "s3",
        "ROSE_MEDIA__S3_ENDPOINT_URL": "http://objects:9000",
        "ROSE_MEDIA__S3_BUCKET": "rose-ash-media",
        "ROSE_S3_ACCESS_KEY_ID": "key-id",
        "ROSE_S3_SECRET_ACCESS_KEY": "key-secret",
    }
    media = load_settings(environ=env).media
    assert (media.backend, media.s3_endpoint_url, media.s3_bucket) == (
        "s3",
        "http://objects:9000",
        "rose-ash-media",
    )
    assert (media.s3_access_key_id, media.s3_secret_access_key) == ("key-id", "key-secret")
    assert "key-secret" not in repr(media)
    assert load_settings(environ={}).media.backend == "filesystem"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ROSE_MEDIA__BACKEND": "ftp"}, "media.backend: 'filesystem' or 's3', got 'ftp'"),
        ({"ROSE_MEDIA__BACKEND": "s3"}, "media.s3_bucket: must be set"),
        (
            {"ROSE_MEDIA__S3_SECRET_ACCESS_KEY": "x"},
            "media.s3_secret_access_key: set ROSE_S3_SECRET_ACCESS_KEY in the environment",
        ),
        (
            {
                "ROSE_MEDIA__BACKEND": "s3",
                "ROSE_MEDIA__S3_BUCKET": "b",
                "ROSE_S3_ACCESS_KEY_ID": "only-the-id",
            },
            "set both or neither",
        ),
    ],
)
def test_media_object_store_settings_are_checked(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=env)
