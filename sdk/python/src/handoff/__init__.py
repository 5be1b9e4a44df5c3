"""The Python SDK of handoff: an approval gate between AI agents and the people who own
the risk.

>>> from handoff import Client, requires_approval
>>> client = Client("http://127.0.0.1:8080", key)            # doctest: +SKIP
>>> @requires_approval(client, task="respond_to_client_inquiry",
...                    summary="Reply to a client", confidence=0.9)
... def send_reply(to: str, body: str) -> None: ...          # doctest: +SKIP
"""

from .approval import UnusableDraft, current_handoff, requires_approval
from .async_client import AsyncClient
from .canonical import canonical_json, sha256_hex
from .client import Client
from .errors import (
    Alerted,
    BadRequest,
    Cancelled,
    Conflict,
    DecisionTimeout,
    Expired,
    FieldError,
    Forbidden,
    HandedOver,
    HandoffError,
    Invalid,
    NotApproved,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ReceiptError,
    Rejected,
    ServerError,
    Stale,
    TransportError,
    Unauthorized,
    UnexpectedStatus,
)
from .models import Event, Handoff, Page
from .receipts import UNSET, decode_unverified, verify_receipt

__version__ = "0.1.0"

__all__ = [
    "Client",
    "AsyncClient",
    "Handoff",
    "Page",
    "Event",
    "requires_approval",
    "current_handoff",
    "UnusableDraft",
    "verify_receipt",
    "decode_unverified",
    "canonical_json",
    "sha256_hex",
    "UNSET",
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
