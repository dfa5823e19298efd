"""The suppression list: read (hashes and reasons: erased addresses leave nothing else), check an
address, add one. Lifting a suppression is the person's own act (confirming a new opt-in)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from api import selectors
from api.models import Scope
from api.v1.common import Key, bad_request, page, responses
from subscribers import services
from subscribers.models import ConsentEvent, Suppression, email_hash
from subscribers.validation import clean_email

router = Router(tags=["suppressions"])
READ = Key(Scope.SUPPRESSIONS_READ)
WRITE = Key(Scope.SUPPRESSIONS_WRITE)
Reason = Literal["unsubscribed", "erased", "hard_bounce", "complaint", "manual"]


class SuppressionOut(Schema):
    email_hash: str = Field(description="SHA-256 of the lower-cased address.")
    reason: Reason
    created_at: datetime


class SuppressionPage(Schema):
    items: list[SuppressionOut]
    next_after: int | None


class CheckOut(Schema):
    email_hash: str
    suppressed: bool
    reason: Reason | None


class SuppressionIn(Schema):
    email: str
    reason: Literal["manual", "hard_bounce", "complaint"] = "manual"


def suppression_out(row: Suppression) -> dict:
    return {"email_hash": row.email_hash, "reason": row.reason, "created_at": row.created_at}


def _email(value: str) -> str:
    try:
        return clean_email(value)
    except ValidationError as exc:
        raise bad_request("email", exc.error_list[0].code or "invalid", exc.messages[0]) from exc


@router.get(
    "/suppressions", response=responses({200: SuppressionPage}), auth=READ, summary="List suppressions"
)
def list_suppressions(
    request: HttpRequest, reason: Reason | None = None, after: int | None = None, limit: int = 50
):
    return page(selectors.suppressions(reason=reason), after=after, limit=limit, out=suppression_out)


@router.get(
    "/suppressions/check",
    response=responses({200: CheckOut}),
    auth=READ,
    summary="Is this address suppressed?",
)
def check_suppression(request: HttpRequest, email: str):
    address = _email(email)
    reason = selectors.suppression_reason(address)
    return {"email_hash": email_hash(address), "suppressed": reason is not None, "reason": reason}


@router.post("/suppressions", response=responses({201: CheckOut}), auth=WRITE, summary="Suppress an address")
def add_suppression(request: HttpRequest, payload: SuppressionIn):
    address = _email(payload.email)
    services.suppress_address(
        email=address,
        reason=payload.reason,
        source=ConsentEvent.Source.API,
        details={"api_key": request.api_key.prefix},
    )
    reason = selectors.suppression_reason(address)
    return Status(201, {"email_hash": email_hash(address), "suppressed": True, "reason": reason})
