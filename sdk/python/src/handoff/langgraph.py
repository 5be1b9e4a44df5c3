"""A LangGraph gate: pause a graph on a handoff, resume it with the server's decision.

LangGraph's own ``interrupt()`` waits for whatever value the caller resumes with and
trusts it. :class:`HandoffGate` keeps the pause (the graph is checkpointed, no thread is
held) but takes the decision from handoff, never from the resume value: resuming a graph
whose handoff is still pending simply pauses it again.

Two nodes and a router::

    gate = HandoffGate(client, task="respond_to_client_inquiry",
                       summary=lambda s: f"Reply to {s['to']}", confidence=0.9,
                       draft=lambda s: {"to": s["to"], "body": s["reply"]})
    builder.add_node("submit_for_approval", gate.submit)   # submits the packet (once)
    builder.add_node("await_approval", gate.wait)           # long-polls, else interrupts
    builder.add_edge("submit_for_approval", "await_approval")
    builder.add_conditional_edges("await_approval", gate.route,
                                  {"approved": "send", "not_approved": "give_up"})

The state needs a key (``handoff`` by default) for the gate's record
``{id, status, draft, rationale, decided_by, receipt}``; ``draft`` is the approved draft
(the reviewer's edit, if any) once approved. The acting node reports with
:meth:`HandoffGate.report`. Needs ``langgraph`` (not a dependency of this package).
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Dict, Mapping, Optional, Union

from .canonical import sha256_hex
from .client import Client
from .models import Handoff

__all__ = ["HandoffGate"]

StateFn = Union[Any, Callable[[Mapping[str, Any]], Any]]


def _resolve(value: StateFn, state: Mapping[str, Any]) -> Any:
    return value(state) if callable(value) else value


class HandoffGate:
    """Submit, wait and route nodes for one gated step of a graph (sync nodes)."""

    def __init__(
        self,
        client: Client,
        *,
        task: str,
        summary: StateFn,
        confidence: StateFn,
        draft: StateFn,
        key: str = "handoff",
        wait_seconds: float = 0.0,
        verify_receipt: bool = True,
        **fields: StateFn,
    ) -> None:
        """``summary``, ``confidence``, ``draft`` and any other packet field (``subject``,
        ``context``, ``flags``, …) are values or functions of the state. ``wait_seconds``
        is how long :meth:`wait` long-polls before it interrupts the graph (0: at once)."""
        self.client = client
        self.task = task
        self.fields: Dict[str, StateFn] = {"summary": summary, "confidence": confidence, **fields}
        self.draft = draft
        self.key = key
        self.wait_seconds = wait_seconds
        self.verify_receipt = verify_receipt

    def packet(self, state: Mapping[str, Any]) -> Dict[str, Any]:
        packet: Dict[str, Any] = {"task": self.task}
        for name, value in self.fields.items():
            v = _resolve(value, state)
            if v is not None:
                packet[name] = v
        packet["draft"] = _resolve(self.draft, state)
        return packet

    # --- nodes -------------------------------------------------------------------------

    def submit(self, state: Mapping[str, Any]) -> Dict[str, Any]:
        """Node: submits the packet; its state update (the handoff's id) is checkpointed
        before :meth:`wait` can pause, so a resume never submits twice."""
        h = self.client.submit(self.packet(state), idempotency_key=str(uuid.uuid4()))
        return {self.key: self._record(h)}

    def wait(self, state: Mapping[str, Any]) -> Dict[str, Any]:
        """Node: the decision, from the server. While the handoff is pending the graph is
        interrupted (payload ``{handoff_id, status, task}``); whatever value it is resumed
        with is ignored, and the handoff is read again."""
        from langgraph.types import interrupt

        record = state.get(self.key) or {}
        hid = record.get("id")
        if not hid:
            raise ValueError(f"state[{self.key!r}] holds no handoff id: run the submit node first")
        h = self.client.get(hid, wait=self.wait_seconds or None)
        while h.is_pending:
            # The first call raises (the graph pauses); after a resume, LangGraph re-runs
            # this node and the call returns the resume value, which is not trusted: the
            # loop reads the handoff again and pauses again (a new interrupt) if needed.
            interrupt({"handoff_id": hid, "status": h.status, "task": h.task})
            h = self.client.get(hid)
        if h.is_approved and self.verify_receipt:
            self.client.verify_receipt(h.receipt or "", h.approved_draft, handoff_id=h.id)
        return {self.key: self._record(h)}

    def route(self, state: Mapping[str, Any]) -> str:
        """Router: ``"approved"`` only for an approved handoff, else ``"not_approved"``
        (rejected, expired, cancelled, handed over, anything unknown)."""
        record = state.get(self.key) or {}
        return "approved" if record.get("status") == "approved" else "not_approved"

    # --- after acting ------------------------------------------------------------------

    def report(self, state: Mapping[str, Any], result: str = "executed", detail: Optional[str] = None) -> Handoff:
        """Reports the outcome of the approved handoff in ``state``: ``executed`` quotes the
        approved draft's SHA-256; ``failed`` carries ``detail``."""
        record = state[self.key]
        if result == "executed":
            return self.client.outcome(record["id"], "executed", draft_sha256=sha256_hex(record["draft"]))
        return self.client.outcome(record["id"], result, detail=detail)

    def _record(self, h: Handoff) -> Dict[str, Any]:
        decision = h.decision or {}
        return {
            "id": h.id,
            "status": h.status,
            "draft": h.approved_draft if h.is_approved else h.draft,
            "rationale": decision.get("rationale"),
            "decided_by": decision.get("by"),
            "receipt": h.receipt,
        }
