"""Pieces that need no server: fail-closed status reading, the SSE parser, error mapping."""

from __future__ import annotations

from handoff import Handoff, Invalid, NotFound, Rejected, ServerError, UnexpectedStatus
from handoff.errors import error_for, not_approved
from handoff.sse import SSEParser


def test_only_approved_is_an_approval():
    for status in ("pending", "rejected", "expired", "cancelled", "handed_over", "alerted",
                   "executed", "APPROVED", "approved ", "approved_later", ""):
        assert not Handoff({"id": "hnd_x", "status": status}).is_approved
    assert Handoff({"id": "hnd_x", "status": "approved"}).is_approved


def test_an_unknown_status_raises_unexpected_status():
    e = not_approved(Handoff({"id": "hnd_x", "status": "approved_by_magic"}))
    assert isinstance(e, UnexpectedStatus)
    r = not_approved(Handoff({"id": "hnd_x", "status": "rejected",
                              "decision": {"action": "reject", "by": "ana", "rationale": "no"}}))
    assert isinstance(r, Rejected) and r.rationale == "no" and r.decided_by == "ana"


def test_problem_documents_map_by_status():
    e = error_for(422, {"type": "urn:handoff:problem:invalid-request", "title": "Unprocessable Entity",
                        "status": 422, "detail": "2 fields", "errors": [{"field": "task", "message": "bad"}]}, "")
    assert isinstance(e, Invalid) and e.errors[0].field == "task" and e.detail == "2 fields"
    assert isinstance(error_for(404, None, "Not Found"), NotFound)
    assert isinstance(error_for(503, "not json", "Service Unavailable"), ServerError)


def test_the_sse_parser_reads_ids_events_comments_and_multiline_data():
    p = SSEParser()
    lines = [": keep-alive", "", "id: 7", "event: handoff", 'data: {"id": "hnd_1",', 'data: "status": "approved"}', "",
             "retry: 2500", "data: plain", ""]
    events = [ev for ev in map(p.feed, lines) if ev is not None]
    assert [(e.id, e.event) for e in events] == [("7", "handoff"), ("7", "message")]
    assert events[0].data == {"id": "hnd_1", "status": "approved"}
    assert events[1].data == "plain" and p.retry_ms == 2500


def test_a_revision_carries_what_it_supersedes():
    h = Handoff({"id": "hnd_2", "version": 1, "status": "pending", "revision_of": {
        "id": "hnd_1", "status": "rejected", "rationale": "too long",
        "draft_diff": [{"op": "replace", "path": "", "value": "short"}]}})
    assert h.revision_of["id"] == "hnd_1"
    assert h.revision_of["draft_diff"][0]["op"] == "replace"
    assert Handoff({"id": "hnd_1", "version": 1, "status": "pending"}).revision_of is None
