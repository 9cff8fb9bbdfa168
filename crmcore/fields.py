"""Marshmallow fields for CRM data: e-mail addresses, phone numbers, countries, time zones."""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from marshmallow import ValidationError, fields

from .phones import common_e164

#: The common case of a local part: an ASCII "dot-atom" (RFC 5322), which email-validator
#: always accepts as it is; anything else takes the full check.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@functools.lru_cache(maxsize=4096)
def _checked_domain(domain: str) -> str | None:
    """The normalised domain of an address, or ``None`` when email-validator refuses it.

    Most of email-validator's time goes on the domain (IDNA, special-use names), and the
    addresses of a list share few domains: an import checks each domain once.
    """
    try:
        return validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None


def normalise_email(text: str) -> str:
    """The address as stored (lower case, IDNA domain decoded); ``ValueError`` if invalid."""
    text = text.strip()
    local, at, domain = text.rpartition("@")
    if not at:  # email-validator's refusal of an address without an @ is slow
        raise ValueError("Not a valid e-mail address.")
    if at and len(local) <= 64 and _DOT_ATOM.fullmatch(local):
        checked = _checked_domain(domain)
        if checked is None:
            raise ValueError("Not a valid e-mail address.")
        address = f"{local}@{checked}".lower()
        if len(address) > 254:
            raise ValueError("Not a valid e-mail address.")
        return address
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValueError("Not a valid e-mail address.") from None


class Email(fields.String):
    """An e-mail address, checked for syntax (no DNS look-up) and stored in lower case.

    An empty string means no address: ``None`` where the field allows it, else "Missing data
    for required field." (validators such as ``Length`` never see ``None``).
    """

    def deserialize(
        self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any
    ) -> Any:
        if isinstance(value, str) and not value.strip():
            if not self.allow_none:
                raise self.make_error("required")
            value = None
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text is None or text == "":
            return None
        try:
            return normalise_email(text)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


#: the phone region of the batch being loaded (``batch_region``), read once for all its rows
_BATCH_REGION: ContextVar[str | None] = ContextVar("crm_batch_phone_region", default=None)


@contextmanager
def batch_region() -> Iterator[None]:
    """Within the block, :func:`default_region` answers the region read on entering it: a
    batch of rows (``RecordService.create_many``) reads the setting once, not per number."""
    token = _BATCH_REGION.set(default_region())
    try:
        yield
    finally:
        _BATCH_REGION.reset(token)


def default_region() -> str:
    """The region of numbers without ``+``: :func:`crmcore.settings.phone_region`."""
    batch = _BATCH_REGION.get()
    if batch is not None:
        return batch
    if has_app_context():
        crm = current_app.extensions.get("crm")
        if crm is not None:
            from .settings import phone_region

            return phone_region(crm)
    return "US"


class Phone(fields.String):
    """A phone number, stored in international E.164 form (``+34911234567``).

    Numbers without a country prefix are read in the instance's phone region (a setting).
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text is None or not text.strip():
            return None
        try:
            return e164_number(text, default_region())
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


def e164_number(text: str, region: str) -> str:
    """``text`` as a number in E.164 form, read in ``region`` when it has no ``+`` prefix;
    ``ValueError`` when it is not a possible phone number."""
    if len(text) > 40:
        raise ValueError("Not a valid phone number.")
    common = common_e164(text, region)
    if common is not None:
        return common
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValueError("Not a valid phone number.") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError("Not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class Country(fields.String):
    """An ISO 3166-1 alpha-2 country code, upper case."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text is None or text == "":
            return None
        code = text.strip().upper()
        if code not in phonenumbers.SUPPORTED_REGIONS and code not in _EXTRA_COUNTRIES:
            raise ValidationError("Not a valid ISO country code (two letters, e.g. ES).")
        return code


_EXTRA_COUNTRIES = {"AQ", "BV", "GS", "HM", "PN", "TF", "UM"}


class TimeZone(fields.String):
    """An IANA time zone name such as ``Europe/Madrid``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text is None or text == "":
            return None
        if text not in _time_zones():
            raise ValidationError("Not a valid time zone (e.g. Europe/Madrid).")
        return text


_time_zones = functools.cache(zoneinfo.available_timezones)
