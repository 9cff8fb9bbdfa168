"""Instance configuration: environment variables, then ``<instance>/crm.toml``, then defaults."""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Setting name -> (environment variable, crm.toml key, default).
_SETTINGS: dict[str, tuple[str, str, Any]] = {
    "database_url": ("CRM_DATABASE_URL", "database_url", None),
    "secret_key": ("CRM_SECRET_KEY", "secret_key", None),
    "redis_url": ("CRM_REDIS_URL", "redis_url", None),
    "smtp_url": ("CRM_SMTP_URL", "smtp_url", None),
    "mail_from": ("CRM_MAIL_FROM", "mail_from", "crm@localhost"),
    "base_url": ("CRM_BASE_URL", "base_url", ""),
    "default_region": ("CRM_DEFAULT_REGION", "default_region", ""),
    "max_upload_mb": ("CRM_MAX_UPLOAD_MB", "max_upload_mb", 25),
    "token_hours": ("CRM_TOKEN_HOURS", "token_hours", 12),
    "token_max_days": ("CRM_TOKEN_MAX_DAYS", "token_max_days", 365),
    "login_rate_limit": ("CRM_LOGIN_RATE_LIMIT", "login_rate_limit", "10 per minute"),
    "proxy_hops": ("CRM_PROXY_HOPS", "proxy_hops", 0),
}


class ConfigError(Exception):
    """The instance configuration cannot be used; the message says why."""


@dataclass
class Settings:
    """Resolved settings of one instance. ``extra`` keeps unknown crm.toml keys for plugins."""

    instance_path: Path
    database_url: str
    secret_key: str
    redis_url: str | None = None
    smtp_url: str | None = None
    mail_from: str = "crm@localhost"
    #: the public address when set here; else the instance setting decides
    #: (``crmcore.settings.base_url()`` resolves it - use that, not this field)
    base_url: str = ""
    #: phone region forced here; else the instance setting (``crmcore.settings.phone_region()``)
    default_region: str = ""
    max_upload_mb: int = 25
    token_hours: int = 12
    #: the longest a personal API token may live (none lives for ever)
    token_max_days: int = 365
    login_rate_limit: str = "10 per minute"
    #: reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted
    proxy_hops: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def attachments_path(self) -> Path:
        return self.instance_path / "attachments"


def instance_path_from_env() -> Path:
    return Path(os.environ.get("CRM_INSTANCE_PATH", "instance")).resolve()


def secret_key_file(instance_path: Path) -> Path:
    return instance_path / "secret_key"


def load_settings(
    instance_path: Path | str | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Resolve the settings: ``overrides`` > environment > ``crm.toml`` > defaults."""
    path = Path(instance_path).resolve() if instance_path else instance_path_from_env()
    toml_file = path / "crm.toml"
    from_file: dict[str, Any] = {}
    if toml_file.exists():
        try:
            from_file = tomllib.loads(toml_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{toml_file} is not valid TOML: {exc}") from None
    overrides = overrides or {}
    values: dict[str, Any] = {}
    given: set[str] = set()
    for name, (env, key, default) in _SETTINGS.items():
        if name in overrides:
            values[name] = overrides[name]
        elif os.environ.get(env):
            values[name] = os.environ[env]
        else:
            values[name] = from_file.get(key, default)
            if key not in from_file:
                continue
        given.add(name)
    for name in ("max_upload_mb", "token_hours", "token_max_days", "proxy_hops"):
        try:
            values[name] = int(values[name])
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number, not {values[name]!r}") from None
    if not values["database_url"]:
        values["database_url"] = f"sqlite:///{path / 'crm.db'}"
    if not values["secret_key"]:
        key_file = secret_key_file(path)
        values["secret_key"] = key_file.read_text().strip() if key_file.exists() else ""
    known = {key for _env, key, _default in _SETTINGS.values()}
    extra = {k: v for k, v in from_file.items() if k not in known}
    return Settings(instance_path=path, extra=extra, **values)


def ensure_secret_key(settings: Settings) -> str:
    """Generate the instance secret into ``<instance>/secret_key`` (mode 600) when none is set."""
    if settings.secret_key:
        return settings.secret_key
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    key_file = secret_key_file(settings.instance_path)
    key = secrets.token_urlsafe(48)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    settings.secret_key = key
    return key
