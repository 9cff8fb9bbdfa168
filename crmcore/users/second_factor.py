"""The second factor (TOTP, RFC 6238, and recovery codes), shared by the sign-in page and the
API's token endpoint so both enforce the same rules: each code accepted once, wrong guesses
rate-limited under one key per user, administrators made to enrol when the instance says so.
"""

from __future__ import annotations

import datetime as dt
import hmac
import time
from typing import Any

import pyotp

from .. import parsing
from ..permissions import Access
from ..settings import get_settings
from . import recovery
from .models import User

#: Wrong second-factor codes allowed per user (and per client address) before waiting.
TOTP_RATE = "5 per 5 minutes"
#: Named permissions that make a user an administrator for ``require_totp_for_admins``.
ADMIN_PERMISSIONS = frozenset({"*", "plugins.manage", "roles.assign", "settings.manage"})


def rate_key(user_id: int | str) -> str:
    """The rate-limit key of wrong codes for one user, the same on every path."""
    return f"web-totp:{user_id}"


def is_admin(access: Access) -> bool:
    """Whether ``access`` holds an administrative permission."""
    return bool(access.permissions & ADMIN_PERMISSIONS)


def must_enrol(crm: Any, user: User) -> bool:
    """Whether ``user`` is an administrator without a second factor on an instance that
    requires one (``require_totp_for_admins``)."""
    if user.totp_secret or not is_admin(Access.for_user(user)):
        return False
    return bool(get_settings(crm.session).get("require_totp_for_admins"))


def check_code(crm: Any, user_id: int, secret: str, code: str) -> bool:
    """Whether ``code`` is valid now (one step of clock drift allowed) and not used before."""
    code = "".join(str(code or "").split())
    if not (parsing.is_whole(code) and len(code) == 6):
        return False
    totp = pyotp.TOTP(secret)
    now = time.time()
    for drift in (0, -1, 1):
        at = now + drift * totp.interval
        if hmac.compare_digest(totp.at(at), code):
            step = totp.timecode(dt.datetime.fromtimestamp(at, dt.UTC))
            return _first_use(crm, user_id, step)
    return False


def check_second_factor(crm: Any, user: User, code: str) -> str | None:
    """``"totp"`` for a valid authenticator code, ``"recovery"`` for an unused recovery code
    (consumed now, in the session: the caller commits), else ``None``."""
    if not user.totp_secret:
        return None
    if check_code(crm, user.id, user.totp_secret, code):
        return "totp"
    used = recovery.matching(user.totp_recovery, code)
    if used is None:
        return None
    left = [d for d in user.totp_recovery if d != used]
    records = crm.records(Access(user=user, is_system=True))
    records.update("users", user, {}, internal={"totp_recovery": left}, commit=False)
    return "recovery"


def _first_use(crm: Any, user_id: int, step: int) -> bool:
    """Record that the code of time step ``step`` was used (shared storage across nodes)."""
    storage = crm.limiter.storage
    return int(storage.incr(f"crm-totp-used:{user_id}:{step}", 120)) == 1
