"""Approve and reject: record actions gated by the plugin's own permission ``claims.decide``,
and the rule that only a decider may file a claim above the limit (a permission-gated write)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crmcore import ActionResult, PermissionDenied, RecordAction, ValidationError

from .schemas import DecisionSchema

PLURAL = "claims"
DECIDE = "claims.decide"
#: Claims above this amount need someone holding ``claims.decide`` to file or raise them.
LIMIT = Decimal("1000")


def prepare_claim(data: dict[str, Any], claim: Any, records: Any) -> None:
    """Refuse an amount above the limit from a user who may not decide on claims, and a
    change of amount once the claim is decided."""
    amount = data.get("amount")
    if amount is None:
        return
    if claim is not None and claim.status != "open" and Decimal(amount) != claim.amount:
        raise ValidationError({"amount": ["A decided claim keeps its amount."]})
    if Decimal(amount) > LIMIT and not records.access.has(DECIDE):
        raise ValidationError(
            {"amount": [f"Claims above {LIMIT} need a manager (the {DECIDE} permission)."]}
        )


def _decide(status: str) -> Any:
    def handler(records: Any, claim: Any, data: dict[str, Any]) -> ActionResult:
        if not records.access.has(DECIDE):  # the action's permission checks it too
            raise PermissionDenied("You may not decide on claims.")
        records.update(
            PLURAL, claim, {}, internal={"status": status, "decision_note": data.get("note")}
        )
        return ActionResult(message=f"Claim {status}.")

    return handler


def _still_open(claim: Any) -> str | None:
    """Why the claim cannot be decided (the button is disabled, the API answers 409)."""
    return None if claim.status == "open" else "This claim is decided already."


def actions() -> tuple[RecordAction, ...]:
    return tuple(
        RecordAction(
            name=name,
            label=name.title(),
            handler=_decide(status),
            permission=DECIDE,  # a named permission of this plugin, not an entity action
            applies=_still_open,
            schema=DecisionSchema,
            destructive=name == "reject",
            description=f"{name.title()} the claim (needs {DECIDE}).",
        )
        for name, status in (("approve", "approved"), ("reject", "rejected"))
    )
