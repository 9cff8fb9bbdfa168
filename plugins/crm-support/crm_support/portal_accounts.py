"""Customer-portal accounts: invitations by e-mail, passwords, sign-in checks."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from crmcore import ValidationError
from crmcore.db import utcnow
from crmcore.settings import base_url
from crmcore.users.passwords import check_policy, hash_password, verify_password

from . import signing
from .language import contact_locale
from .models import PortalAccount
from .outgoing import deliver, one_line


def fingerprint(account: PortalAccount) -> str:
    """Changes when the password does: links and sessions made before stop working."""
    return hashlib.sha256((account.password_hash or "unset").encode()).hexdigest()[:16]


def invite(crm: Any, contact: Any) -> PortalAccount:
    """Create (or find) the contact's account and e-mail them a link to set a password."""
    if not contact.email:
        raise ValidationError({"contact_id": ["The contact has no e-mail address."]})
    session = crm.session
    email = contact.email.strip().lower()
    account = session.scalar(select(PortalAccount).where(PortalAccount.contact_id == contact.id))
    other = session.scalar(select(PortalAccount).where(func.lower(PortalAccount.email) == email))
    if other is not None and (account is None or other.id != account.id):
        raise ValidationError(
            {"contact_id": ["Another contact has a portal login with this address."]}
        )
    if account is None:
        account = PortalAccount(contact_id=contact.id, email=email)
        session.add(account)
    account.email, account.active, account.invited_at = email, True, utcnow()
    session.commit()
    token = signing.dumps(crm, signing.INVITE_SALT, {"a": account.id, "f": fingerprint(account)})
    link = f"{base_url(crm)}/portal/activate/{token}"
    locale = contact_locale(crm, contact)
    with force_locale(locale):
        subject = _("Your support portal access")
        body = "\n\n".join(
            (
                _("Hello,"),
                _(
                    "you can now follow your support requests online. Choose a password here "
                    "(the link works for %(days)d days):",
                    days=signing.INVITE_DAYS,
                ),
                link,
            )
        )
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = crm.settings.mail_from
    msg["To"] = formataddr(
        (one_line(f"{contact.first_name or ''} {contact.last_name}", 100), email)
    )
    msg.set_content(body + "\n")
    msg["Content-Language"] = locale
    deliver(crm, msg)
    return account


def account_for_token(crm: Any, token: str) -> PortalAccount | None:
    """The account an invitation link is for, if the link is genuine, fresh and unused."""
    payload = signing.loads(crm, signing.INVITE_SALT, token, signing.INVITE_DAYS)
    if payload is None:
        return None
    account = crm.session.get(PortalAccount, payload.get("a"))
    if account is None or not account.active or payload.get("f") != fingerprint(account):
        return None
    return account


def set_password(crm: Any, account: PortalAccount, password: str) -> None:
    problem = check_policy(password)
    if problem:
        raise ValidationError({"password": [problem]})
    account.password_hash = hash_password(password)
    crm.session.commit()


def authenticate(crm: Any, email: str, password: str) -> PortalAccount | None:
    account = crm.session.scalar(
        select(PortalAccount).where(func.lower(PortalAccount.email) == email.strip().lower()[:254])
    )
    ok = verify_password(account.password_hash if account else None, password)
    if account is None or not ok or not account.active:
        return None
    return account
