"""The LangGraph gate, driven by LangGraph itself (no LLM): the graph pauses on a pending
handoff, a forged resume value does not approve it, and the server's decision does."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

pytest.importorskip("langgraph")

from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402
from langgraph.types import Command  # noqa: E402
from typing_extensions import TypedDict  # noqa: E402

from handoff.langgraph import HandoffGate  # noqa: E402


class State(TypedDict, total=False):
    to: str
    question: str
    reply: str
    handoff: Dict[str, Any]
    sent: Optional[str]
    gave_up: Optional[str]


def build(agent, outbox: List[str]):
    gate = HandoffGate(
        agent,
        task="respond_to_client_inquiry",
        summary=lambda s: f"Reply to {s['to']}: {s['question']}",
        confidence=0.93,
        subject=lambda s: s["to"],
        draft=lambda s: {"to": s["to"], "body": s["reply"]},
    )

    def draft(state: State) -> State:
        return {"reply": f"Hello, about '{state['question']}': the copy is attached."}

    def send(state: State) -> State:
        approved = state["handoff"]["draft"]
        outbox.append(approved["body"])
        gate.report(state)
        return {"sent": approved["body"]}

    def give_up(state: State) -> State:
        return {"gave_up": state["handoff"]["rationale"] or state["handoff"]["status"]}

    b = StateGraph(State)
    b.add_node("draft", draft)
    b.add_node("submit_for_approval", gate.submit)
    b.add_node("await_approval", gate.wait)
    b.add_node("send", send)
    b.add_node("give_up", give_up)
    b.add_edge(START, "draft")
    b.add_edge("draft", "submit_for_approval")
    b.add_edge("submit_for_approval", "await_approval")
    b.add_conditional_edges("await_approval", gate.route, {"approved": "send", "not_approved": "give_up"})
    b.add_edge("send", END)
    b.add_edge("give_up", END)
    return b.compile(checkpointer=InMemorySaver())


def test_the_graph_pauses_until_a_person_decides_and_sends_the_edit(agent, ana):
    outbox: List[str] = []
    graph = build(agent, outbox)
    cfg = {"configurable": {"thread_id": "t-edit"}}

    first = graph.invoke({"to": "ceo@acme.example", "question": "invoice copy?"}, cfg)
    pause = first["__interrupt__"][0].value
    assert pause["status"] == "pending"
    hid = pause["handoff_id"]
    assert outbox == []

    # A resume value claiming approval is not an approval: the graph pauses again.
    again = graph.invoke(Command(resume={"status": "approved"}), cfg)
    assert again["__interrupt__"][0].value["handoff_id"] == hid
    assert outbox == []

    ana.edit(hid, {"to": "ceo@acme.example", "body": "Hello, the March invoice is attached."})
    done = graph.invoke(Command(resume="decided"), cfg)
    assert done["sent"] == "Hello, the March invoice is attached."
    assert outbox == ["Hello, the March invoice is attached."]
    assert agent.get(hid).status == "executed"
    # One handoff for the whole conversation: resuming never submitted again.
    assert [h["id"] for h in agent.list().items] == [hid]


def test_a_rejection_routes_to_the_other_branch_with_the_rationale(agent, ana):
    outbox: List[str] = []
    graph = build(agent, outbox)
    cfg = {"configurable": {"thread_id": "t-reject"}}
    hid = graph.invoke({"to": "ceo@acme.example", "question": "50% off?"}, cfg)["__interrupt__"][0].value["handoff_id"]
    ana.reject(hid, "No discounts in writing")
    done = graph.invoke(Command(resume="decided"), cfg)
    assert done["gave_up"] == "No discounts in writing"
    assert outbox == []
