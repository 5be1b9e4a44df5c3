"""The SDK's exceptions.

Two families: :class:`HandoffError` for what the server refused (an RFC 9457 problem
document, mapped by status), and :class:`NotApproved` for a handoff that ended without an
approval (raised by :func:`handoff.requires_approval` and :meth:`Client.wait_for_decision`
callers that ask for it). A timeout is its own exception and never an approval.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Type

__all__ = [
    "HandoffError",
    "TransportError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "PreconditionFailed",
    "Stale",
    "PayloadTooLarge",
    "Invalid",
    "ServerError",
    "FieldError",
    "ReceiptError",
    "NotApproved",
    "Rejected",
    "Expired",
    "Cancelled",
    "HandedOver",
    "Alerted",
    "UnexpectedStatus",
    "DecisionTimeout",
]


class FieldError(Dict[str, str]):
    """One entry of a problem document's ``errors``: ``{"field": …, "message": …}``."""

    @property
    def field(self) -> str:
        return str(self.get("field", ""))

    @property
    def message(self) -> str:
        return str(self.get("message", ""))


class HandoffError(Exception):
    """The server answered with an error (a problem document when it could)."""

    status: int
    title: str
    detail: Optional[str]
    type: Optional[str]
    errors: List[FieldError]
    problem: Dict[str, Any]

    def __init__(
        self,
        status: int,
        title: str,
        detail: Optional[str] = None,
        *,
        type: Optional[str] = None,
        errors: Optional[List[Dict[str, Any]]] = None,
        problem: Optional[Dict[str, Any]] = None,
        request_id: Optional[str] = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.errors = [FieldError({k: str(v) for k, v in e.items()}) for e in (errors or [])]
        self.problem = problem or {}
        self.request_id = request_id
        text = f"{status} {title}"
        if detail:
            text += f": {detail}"
        if self.errors:
            text += " (" + "; ".join(f"{e.field}: {e.message}" for e in self.errors) + ")"
        super().__init__(text)


class TransportError(HandoffError):
    """The server could not be reached or the connection broke (status 0)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "Transport error", message)


class BadRequest(HandoffError):
    """400: the body is not JSON, or not I-JSON (``errors[].field`` is a JSON Pointer)."""


class Unauthorized(HandoffError):
    """401: a missing, wrong or revoked key."""


class Forbidden(HandoffError):
    """403: the key's role may not do this."""


class NotFound(HandoffError):
    """404: no such handoff, or not one the caller may see."""


class Conflict(HandoffError):
    """409: the state does not allow this (a decided handoff, a repeated approval, …)."""


class PreconditionFailed(HandoffError):
    """412: ``If-Match`` named another version than the current one."""


Stale = PreconditionFailed
"""Alias: the version decided on is stale."""


class PayloadTooLarge(HandoffError):
    """413: the body is over 1 MiB."""


class Invalid(HandoffError):
    """422: bad fields, each named in :attr:`errors`."""


class ServerError(HandoffError):
    """5xx."""


_BY_STATUS: Dict[int, Type[HandoffError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    422: Invalid,
}


def error_for(
    status: int, body: Any, reason: str, request_id: Optional[str] = None
) -> HandoffError:
    """The exception for an error answer; ``body`` is the parsed JSON or ``None``."""
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else HandoffError)
    problem = body if isinstance(body, dict) else {}
    errors = problem.get("errors")
    return cls(
        status,
        str(problem.get("title") or reason or f"HTTP {status}"),
        problem.get("detail") if isinstance(problem.get("detail"), str) else None,
        type=problem.get("type") if isinstance(problem.get("type"), str) else None,
        errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else None,
        problem=problem,
        request_id=request_id,
    )


class ReceiptError(Exception):
    """A receipt failed verification: bad signature, unknown key, expired, or another draft."""


class NotApproved(Exception):
    """The handoff ended without an approval; the gated action must not run.

    Carries the handoff (:attr:`handoff`), its :attr:`status` and, when a person decided,
    the :attr:`rationale` and who decided (:attr:`decided_by`).
    """

    def __init__(self, handoff: Dict[str, Any], message: Optional[str] = None) -> None:
        self.handoff = handoff
        self.handoff_id: str = str(handoff.get("id", ""))
        self.status: str = str(handoff.get("status", ""))
        decision = handoff.get("decision") or {}
        self.rationale: Optional[str] = decision.get("rationale")
        self.decided_by: Optional[str] = decision.get("by")
        text = message or f"handoff {self.handoff_id} is {self.status}"
        if self.rationale:
            text += f" by {self.decided_by}: {self.rationale}"
        super().__init__(text)


class Rejected(NotApproved):
    """A reviewer rejected it; :attr:`rationale` says why."""


class Expired(NotApproved):
    """Nobody decided before ``expires_at``; expiry never approves."""


class Cancelled(NotApproved):
    """The agent cancelled it."""


class HandedOver(NotApproved):
    """Level 3, or a reviewer took it over: a human does the work; the agent stops."""


class Alerted(NotApproved):
    """Level 4: nothing is done; the owners were alerted."""


class UnexpectedStatus(NotApproved):
    """A status the SDK does not treat as an approval (fail closed)."""


class DecisionTimeout(TimeoutError):
    """Still ``pending`` when the caller's timeout ran out. Never an approval."""

    def __init__(self, handoff: Dict[str, Any], timeout: float) -> None:
        self.handoff = handoff
        self.handoff_id: str = str(handoff.get("id", ""))
        self.timeout = timeout
        super().__init__(f"handoff {self.handoff_id} still pending after {timeout:g}s")


_ENDED: Dict[str, Type[NotApproved]] = {
    "rejected": Rejected,
    "expired": Expired,
    "cancelled": Cancelled,
    "handed_over": HandedOver,
    "resolved": HandedOver,
    "alerted": Alerted,
    "acknowledged": Alerted,
}


def not_approved(handoff: Dict[str, Any]) -> NotApproved:
    """The exception for a handoff whose status is not an approval."""
    return _ENDED.get(str(handoff.get("status")), UnexpectedStatus)(handoff)
