"""Settings of the web EDC: the store's settings (frailtrial.edc.config) plus what pages need.

``setup(db_url)`` configures Django with the store's database settings and this app's extra
settings (sessions, messages, auth and CSRF middleware, templates, security headers), runs the
store's setup (re-pointing and migrations) and returns the URL. The secret key comes from
``FRAILTRIAL_SECRET_KEY`` or is generated once into the data directory (``FRAILTRIAL_DATA_DIR``,
else the SQLite file's folder, else ``~/.local/share/frailtrial``); it is never in the code.
``FRAILTRIAL_TRUSTED_PROXIES`` lists the reverse proxies whose X-Forwarded-For is believed;
``FRAILTRIAL_TOKEN_DAYS`` sets how long API tokens live.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from frailtrial.edc import config as edc_config
from frailtrial.errors import InputError

TOKEN_DAYS = 90
"""Days an API token lives unless ``FRAILTRIAL_TOKEN_DAYS`` says otherwise."""

SESSION_MINUTES = 30
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
"""Interface languages (Django codes); the participant pages are complete in each."""
WEB_APP = "frailtrial.web.apps.WebConfig"
EXTRA_APPS = ["django.contrib.sessions", "django.contrib.messages", "ninja", WEB_APP]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "frailtrial.web.middleware.InputGuard",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "frailtrial.web.middleware.SecurityHeaders",
    "frailtrial.web.middleware.SqliteWriteQueue",
]


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def secret_key(url: str) -> str:
    """The signing key: ``FRAILTRIAL_SECRET_KEY``, else a key generated once (mode 0600)."""
    if os.environ.get("FRAILTRIAL_SECRET_KEY"):
        return os.environ["FRAILTRIAL_SECRET_KEY"]
    return edc_config.key_file(edc_config.data_dir(url) / "frailtrial-secret-key")


def web_settings(url: str) -> dict[str, Any]:
    """What the pages add to the store's settings (cookies secure when FRAILTRIAL_SECURE=1)."""
    secure = _truthy("FRAILTRIAL_SECURE")
    hosts = os.environ.get("FRAILTRIAL_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    return {
        "SECRET_KEY": secret_key(url),
        "DEBUG": False,
        "ALLOWED_HOSTS": [h.strip() for h in hosts.split(",") if h.strip()],
        "ROOT_URLCONF": "frailtrial.web.urls",
        "MIDDLEWARE": MIDDLEWARE,
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                        "frailtrial.web.access.menu",
                    ]
                },
            }
        ],
        "PASSWORD_HASHERS": [
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        ],
        "AUTHENTICATION_BACKENDS": ["frailtrial.web.security.AuditedPasswordBackend"],
        "AUTH_PASSWORD_VALIDATORS": [
            {"NAME": f"django.contrib.auth.password_validation.{v}"}
            for v in (
                "UserAttributeSimilarityValidator",
                "CommonPasswordValidator",
                "NumericPasswordValidator",
            )
        ]
        + [
            {
                "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
                "OPTIONS": {"min_length": 12},
            },
            {"NAME": "frailtrial.web.security.PasswordRules"},
        ],
        "FRAILTRIAL_TRUSTED_PROXIES": trusted_proxies(),
        "FRAILTRIAL_TOKEN_DAYS": token_days(),
        **mail_settings(),
        "LOGIN_URL": "web:login",
        "SESSION_ENGINE": "django.contrib.sessions.backends.db",
        "SESSION_COOKIE_AGE": SESSION_MINUTES * 60,
        "SESSION_SAVE_EVERY_REQUEST": True,
        "SESSION_EXPIRE_AT_BROWSER_CLOSE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure,
        "CSRF_COOKIE_SECURE": secure,
        "CSRF_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_SAMESITE": "Lax",
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https") if secure else None,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin",
        "SECURE_HSTS_SECONDS": 31536000 if secure else 0,
        "X_FRAME_OPTIONS": "DENY",
        "MESSAGE_STORAGE": "django.contrib.messages.storage.session.SessionStorage",
        "STATIC_URL": "/static/",
        "FORMAT_MODULE_PATH": "frailtrial.web.formats",
        "USE_I18N": True,
        "LANGUAGE_CODE": "en",
        "LANGUAGES": LANGUAGES,
        "LOGGING": {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"stderr": {"class": "logging.StreamHandler"}},
            "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
        },
    }


def _list(name: str, default: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, default).split(",") if x.strip()]


def token_days() -> int:
    """Days an API token lives: ``FRAILTRIAL_TOKEN_DAYS`` (a whole number ≥ 1), default 90."""
    text = os.environ.get("FRAILTRIAL_TOKEN_DAYS", str(TOKEN_DAYS)).strip()
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"FRAILTRIAL_TOKEN_DAYS={text!r} is not a whole number of days >= 1")
    return int(text)


def trusted_proxies() -> list[str]:
    """``FRAILTRIAL_TRUSTED_PROXIES``: addresses or networks whose X-Forwarded-For is believed."""
    entries = _list("FRAILTRIAL_TRUSTED_PROXIES", "")
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise InputError(
                f"FRAILTRIAL_TRUSTED_PROXIES: {entry!r} is not an IP address or network"
            ) from None
    return entries


def mail_settings() -> dict[str, Any]:
    """E-mail for notices when ``FRAILTRIAL_EMAIL_BACKEND`` names a Django mail backend
    (host, port and sender from ``FRAILTRIAL_EMAIL_HOST``/``_PORT``/``_FROM``); none otherwise."""
    backend = os.environ.get("FRAILTRIAL_EMAIL_BACKEND", "").strip()
    port = os.environ.get("FRAILTRIAL_EMAIL_PORT", "25").strip()
    if not port.isdigit():
        raise InputError(f"FRAILTRIAL_EMAIL_PORT={port!r} is not a port number")
    return {
        "FRAILTRIAL_EMAIL": bool(backend),
        "EMAIL_BACKEND": backend or "django.core.mail.backends.dummy.EmailBackend",
        "EMAIL_HOST": os.environ.get("FRAILTRIAL_EMAIL_HOST", "localhost"),
        "EMAIL_PORT": int(port),
        "DEFAULT_FROM_EMAIL": os.environ.get("FRAILTRIAL_EMAIL_FROM", "frailtrial@localhost"),
    }


def setup(db_url: str | None = None, migrate: bool = True, synchronous: str = "FULL") -> str:
    """Configure Django for the pages on the store at ``db_url``; returns the URL.

    When the store alone was configured earlier in this process (e.g. by the CLI or other
    tests), the web app and its settings are added to the running configuration.
    """
    import django
    from django.conf import settings

    url = edc_config.database_url(db_url)
    extra = web_settings(url)
    added = False
    if not settings.configured:
        base = edc_config.django_settings(url, synchronous)  # the store's settings, extended below
        base["INSTALLED_APPS"] = [*base["INSTALLED_APPS"], *EXTRA_APPS]
        settings.configure(**(base | extra))
        django.setup()
    elif WEB_APP not in settings.INSTALLED_APPS:
        from django.apps import apps

        for key, value in extra.items():
            setattr(settings, key, value)
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, *EXTRA_APPS]
        apps.set_installed_apps(settings.INSTALLED_APPS)
        added = True
    result = edc_config.setup(url, migrate=migrate, synchronous=synchronous)
    if added and migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
    return result
