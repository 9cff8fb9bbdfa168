"""Checks and defaults of a webhook before it is saved: the URL passes the SSRF guard, the
entities and events exist, a new webhook gets its secret."""

from __future__ import annotations

from typing import Any

from crmcore.errors import ValidationError
from flask_babel import gettext as _

from . import signing
from .delivery import allowed_hosts
from .models import EVENTS
from .outbox import SILENT_ENTITIES, split
from .ssrf import RefusedURL, check


def prepare_webhook(values: dict[str, Any], record: Any, records: Any) -> None:
    """Normalise the lists, refuse unknown entities and events and refused URLs (naming them)."""
    errors: dict[str, list[str]] = {}
    if "url" in values:
        url = values["url"].strip()
        values["url"] = url
        try:
            check(url, allowed_hosts(records.crm))
        except RefusedURL as exc:
            errors["url"] = [_("%(url)s is refused: %(reason)s", url=exc.url, reason=_reason(exc))]
    if "entities" in values:
        known = {e.plural: e for e in records.crm.entities() if e.name not in SILENT_ENTITIES}
        wanted = split(values["entities"])
        unknown = [name for name in wanted if name not in known]
        if unknown:
            errors["entities"] = [_("No entity called %(name)s.", name=", ".join(unknown))]
        elif not wanted:
            errors["entities"] = [_("Name at least one entity.")]
        values["entities"] = ",".join(wanted)
    if "events" in values:
        wanted = split(values["events"])
        unknown = [name for name in wanted if name not in EVENTS]
        if unknown:
            errors["events"] = [_("No event called %(name)s.", name=", ".join(unknown))]
        values["events"] = ",".join(wanted)
    if record is None and values.get("owner_id") is None:
        # the owner's permissions decide what is sent: a webhook always has one
        values["owner_id"] = records.access.user_id
        if values["owner_id"] is None:
            errors["owner_id"] = [_("A webhook needs an owner: it sends what they may read.")]
    if errors:
        raise ValidationError(errors)
    if record is None:
        values["secret"] = signing.new_secret()
        values["secret_shown"] = False


def _reason(exc: RefusedURL) -> str:
    """The reason of a refusal in the reader's language."""
    params = dict(exc.params)
    if "kind" in params:
        params["kind"] = _(params["kind"])
    return str(_(exc.reason, **params))
