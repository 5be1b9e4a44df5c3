"""Problem documents become typed exceptions carrying status, title, detail and fields."""

from __future__ import annotations

import pytest

from handoff import (
    Client,
    Conflict,
    Forbidden,
    HandoffError,
    Invalid,
    NotFound,
    PreconditionFailed,
    Stale,
    TransportError,
    Unauthorized,
)


def _pending(agent):
    return agent.submit(task="respond_to_client_inquiry", summary="Question", confidence=0.95, draft="Hello")


def test_an_unknown_handoff_is_not_found(agent):
    with pytest.raises(NotFound) as err:
        agent.get("hnd_01JD0000000000000000000000")
    e = err.value
    assert (e.status, e.title) == (404, "Not Found")
    assert e.type == "urn:handoff:problem:not-found"
    assert e.detail


def test_someone_elses_handoff_is_not_found(server, agent):
    h = _pending(agent)
    with pytest.raises(NotFound):
        server.new_agent().get(h.id)


def test_an_agent_deciding_is_forbidden(agent):
    h = _pending(agent)
    with pytest.raises(Forbidden) as err:
        agent.approve(h.id)
    assert err.value.status == 403


def test_a_second_decision_is_a_conflict(agent, ana):
    h = _pending(agent)
    ana.approve(h.id)
    with pytest.raises(Conflict) as err:
        ana.reject(h.id, "too late")
    assert err.value.status == 409


def test_a_bad_packet_is_invalid_naming_every_field(agent):
    with pytest.raises(Invalid) as err:
        agent.submit(task="Bad Task!", summary="", confidence=1.5)
    e = err.value
    assert e.status == 422
    assert {f.field for f in e.errors} >= {"task", "summary", "confidence"}
    assert all(f.message for f in e.errors)


def test_a_stale_version_is_a_failed_precondition(agent, ana):
    h = _pending(agent)
    with pytest.raises(PreconditionFailed) as err:
        ana.approve(h.id, if_match=h.version + 1)
    assert err.value.status == 412
    assert Stale is PreconditionFailed
    assert ana.approve(h.id, if_match=h.version).status == "approved"


def test_a_bad_key_is_unauthorized(server):
    with pytest.raises(Unauthorized) as err:
        Client(server.base_url, "hk_not-a-key").list()
    assert err.value.status == 401


def test_every_error_is_a_handoff_error_and_an_unreachable_server_is_a_transport_error():
    for cls in (NotFound, Forbidden, Conflict, Invalid, PreconditionFailed, Unauthorized):
        assert issubclass(cls, HandoffError)
    with pytest.raises(TransportError):
        Client("http://127.0.0.1:9", "hk_x", timeout=2).list()
