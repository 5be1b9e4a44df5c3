"""Server-Sent Events: replay from the log with Last-Event-ID, and live delivery."""

from __future__ import annotations

import threading


def test_events_replay_after_a_last_event_id_and_resume_from_any_event(agent, ana):
    h = agent.submit(task="respond_to_client_inquiry", summary="Events", confidence=0.95, draft="x")
    ana.approve(h.id)
    agent.outcome(h.id, "executed")

    mine = []
    for ev in agent.events(last_event_id=0):
        assert ev.event == "handoff"
        if ev.data["id"] == h.id:
            mine.append(ev)
        if len(mine) == 3:
            break
    # A replayed event carries the handoff as it is now; each has its own audit seq.
    assert all(e.data["status"] == "executed" for e in mine)
    seqs = [int(e.id) for e in mine]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3

    # Resuming after the first of them gives the next one first.
    resumed = next(e for e in agent.events(last_event_id=mine[0].id) if e.data["id"] == h.id)
    assert resumed.id == mine[1].id


def test_a_live_stream_delivers_a_decision_as_it_happens(agent, ana):
    h = agent.submit(task="respond_to_client_inquiry", summary="Live", confidence=0.95, draft="x")
    # Resume from the submission's own event, so nothing between opening the stream and
    # the decision can be missed, then decide while the stream is open.
    first = next(e for e in agent.events(last_event_id=0) if e.data["id"] == h.id)
    stream = agent.events(last_event_id=first.id)
    decided = threading.Timer(0.0, lambda: ana.approve(h.id))
    decided.start()
    ev = next(e for e in stream if e.data["id"] == h.id)
    assert ev.data["status"] == "approved"
    assert ev.data["task"] == "respond_to_client_inquiry"
    assert ev.data["assigned_team"] == "sales"
    stream.close()
