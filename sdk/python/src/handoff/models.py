"""What the API answers, as thin typed views over the JSON.

:class:`Handoff` is a ``dict`` (the resource of SPEC §3 exactly as the server sent it) with
properties for the fields an agent reads most; nothing is dropped or renamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

__all__ = ["Handoff", "Page", "Event", "APPROVED", "PENDING", "STATUSES"]

PENDING = "pending"
APPROVED = "approved"
STATUSES = (
    "pending",
    "approved",
    "rejected",
    "handed_over",
    "alerted",
    "acknowledged",
    "resolved",
    "expired",
    "cancelled",
    "executed",
    "failed",
    "rolled_back",
)

_MISSING = object()


class Handoff(Dict[str, Any]):
    """A handoff resource (SPEC §3)."""

    @property
    def id(self) -> str:
        return str(self["id"])

    @property
    def version(self) -> int:
        return int(self["version"])

    @property
    def status(self) -> str:
        return str(self["status"])

    @property
    def task(self) -> str:
        return str(self.get("task", ""))

    @property
    def packet(self) -> Dict[str, Any]:
        return dict(self.get("packet") or {})

    @property
    def evaluation(self) -> Dict[str, Any]:
        return dict(self.get("evaluation") or {})

    @property
    def level(self) -> Optional[int]:
        return self.evaluation.get("level")

    @property
    def decision(self) -> Optional[Dict[str, Any]]:
        return self.get("decision")

    @property
    def rationale(self) -> Optional[str]:
        d = self.decision
        return d.get("rationale") if d else None

    @property
    def revision_of(self) -> Optional[Dict[str, Any]]:
        """Set when this handoff supersedes an earlier one (the packet's ``supersedes``):
        ``{id, status, rationale, draft_diff}``, ``draft_diff`` an RFC 6902 JSON Patch from
        the old draft to this one's."""
        return self.get("revision_of")

    @property
    def receipt(self) -> Optional[str]:
        return self.get("receipt")

    @property
    def receipt_ed25519(self) -> Optional[str]:
        """The same receipt under RFC 9864's algorithm name ``Ed25519`` (same payload and key)."""
        return self.get("receipt_ed25519")

    @property
    def is_pending(self) -> bool:
        return self.get("status") == PENDING

    @property
    def is_approved(self) -> bool:
        """Exactly ``approved``: anything else, known or not, is not an approval."""
        return self.get("status") == APPROVED

    @property
    def draft(self) -> Any:
        """The agent's draft as submitted (``None`` when it sent none)."""
        return (self.get("packet") or {}).get("draft")

    @property
    def approved_draft(self) -> Any:
        """The draft the approval covers: the reviewer's edit when there was one."""
        if self.get("approved_draft") is not None:
            return self["approved_draft"]
        return self.draft

    @property
    def was_edited(self) -> bool:
        """Whether a reviewer stored a draft version of their own."""
        return any(v.get("by") != "agent" for v in self.get("draft_versions") or [])

    @property
    def approved_draft_sha256(self) -> Optional[str]:
        """The digest of the latest draft version (the approved one once approved)."""
        versions = self.get("draft_versions") or []
        return versions[-1].get("sha256") if versions else None

    def __repr__(self) -> str:
        return f"Handoff(id={self.get('id')!r}, status={self.get('status')!r}, version={self.get('version')!r})"


@dataclass
class Page:
    """One page of a listing: ``items`` and the cursor of the next page (``None`` at the end)."""

    items: List[Dict[str, Any]]
    next_cursor: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Event:
    """One Server-Sent Event of ``GET /v1/events``.

    ``id`` is the audit sequence number (pass it back as ``last_event_id`` to resume);
    ``data`` is ``{id, status, version, task, assigned_team}`` for ``handoff`` events.
    """

    id: Optional[str]
    event: str
    data: Any
    raw_data: str = field(default="", repr=False)
