"""Absolute public addresses of the links in campaign messages.

Built on the instance's ``base_url`` (``CRM_BASE_URL``), never on a request's ``Host``
header - the same rule as the core's password-reset links - so they are the same in a request,
a job or the CLI, and a forged ``Host`` cannot point them elsewhere. The paths are the public
pages' (see :mod:`crm_marketing.public`):

- open pixel ``/m/o/<token>.gif``, token ``[recipient_id]`` (purpose OPEN)
- click ``/m/c/<token>``, token ``[recipient_id, link_id]`` (purpose CLICK); the target is the
  campaign's :class:`~crm_marketing.models.CampaignLink`, never read from the address
- unsubscribe: the core's ``/u/<token>`` (:mod:`crmcore.consent`), which keeps working when
  this plugin is disabled; messages sent before carry ``/m/u/<token>``, token ``[recipient_id]``
  (purpose UNSUBSCRIBE), which still work too
- subscription form ``/m/subscribe`` and its confirmation ``/m/confirm/<token>``
"""

from __future__ import annotations

from typing import Any

from itsdangerous import URLSafeSerializer

from crmcore import consent, settings

from . import tokens

_SIGNERS = "crm_marketing.link_serializers"

OPEN_PATH = "/m/o/{token}.gif"
CLICK_PATH = "/m/c/{token}"
UNSUBSCRIBE_PATH = "/m/u/{token}"
SUBSCRIBE_PATH = "/m/subscribe"
CONFIRM_PATH = "/m/confirm/{token}"


def base_url(crm: Any) -> str:
    """The instance's public address, without a trailing slash."""
    return settings.base_url(crm)


def _dumps(crm: Any, purpose: str, payload: Any) -> str:
    """``tokens.dumps``, with the serializer of each purpose made once per app and secret
    (a message signs a dozen tokens: one per link, the pixel, the unsubscribe link)."""
    secret = crm.settings.secret_key
    cache = crm.app.extensions.setdefault(_SIGNERS, {})
    serializer = cache.get((purpose, secret))
    if serializer is None:
        serializer = cache[(purpose, secret)] = URLSafeSerializer(secret, salt=purpose)
    return str(serializer.dumps(payload))


def open_url(crm: Any, recipient_id: int) -> str:
    """The tracking pixel of one recipient's message."""
    token = _dumps(crm, tokens.OPEN, [recipient_id])
    return base_url(crm) + OPEN_PATH.format(token=token)


def click_url(crm: Any, recipient_id: int, link_id: int) -> str:
    """The tracked address of a campaign link (``CampaignLink.id``) for one recipient."""
    token = _dumps(crm, tokens.CLICK, [recipient_id, link_id])
    return base_url(crm) + CLICK_PATH.format(token=token)


def unsubscribe_url(
    crm: Any, recipient_id: int, contact_id: int | None = None, campaign_id: int | None = None
) -> str:
    """The one-click unsubscribe address of one recipient (also ``List-Unsubscribe``): the
    core's page when the contact is known (it survives disabling this plugin), else the older
    ``/m/u`` address."""
    if contact_id is not None:
        label = f"campaign:{campaign_id}" if campaign_id is not None else "marketing"
        return consent.unsubscribe_url(crm, contact_id, "marketing", recipient_id, label)
    token = _dumps(crm, tokens.UNSUBSCRIBE, [recipient_id])
    return base_url(crm) + UNSUBSCRIBE_PATH.format(token=token)


def subscribe_url(crm: Any) -> str:
    """The public subscription form."""
    return base_url(crm) + SUBSCRIBE_PATH


def confirm_url(crm: Any, token: str) -> str:
    """The double opt-in confirmation address for a SUBSCRIBE token (``tokens.dumps_timed``)."""
    return base_url(crm) + CONFIRM_PATH.format(token=token)


def preview_unsubscribe_url(crm: Any) -> str:
    """What ``{{ unsubscribe_url }}`` shows in previews and test messages: the unsubscribe
    page with a token that belongs to nobody (the page says the link is not valid)."""
    return base_url(crm) + UNSUBSCRIBE_PATH.replace("{token}", "preview")
