"""The AsyncClient and async gated functions, on the same server."""

from __future__ import annotations

import asyncio

import pytest

from handoff import AsyncClient, DecisionTimeout, NotFound, Rejected, requires_approval, sha256_hex


def run(coro):
    return asyncio.run(coro)


def test_an_async_gated_function_runs_with_the_edit_and_reports_executed(server):
    agent_key = server.new_agent()._key
    ana_key = server.key("reviewer", "ana")

    async def main():
        async with AsyncClient(server.base_url, agent_key) as agent, AsyncClient(server.base_url, ana_key) as ana:
            submitted: asyncio.Queue = asyncio.Queue()
            calls = []

            @requires_approval(agent, task="respond_to_client_inquiry", summary="Async reply",
                               confidence=0.95, on_submit=submitted.put_nowait)
            async def send(to: str, body: str) -> str:
                calls.append((to, body))
                return "ok"

            task = asyncio.ensure_future(send("a@acme.example", "Hi"))
            h = await asyncio.wait_for(submitted.get(), 10)
            await ana.edit(h.id, {"to": "a@acme.example", "body": "Hello"})
            assert await asyncio.wait_for(task, 15) == "ok"
            assert calls == [("a@acme.example", "Hello")]
            final = await agent.get(h.id)
            assert final.status == "executed"
            payload = await agent.verify_receipt(final.receipt, final["approved_draft"])
            assert payload["draft_sha256"] == sha256_hex({"to": "a@acme.example", "body": "Hello"})

    run(main())


def test_an_async_rejection_raises_with_the_rationale(server):
    agent_key = server.new_agent()._key
    ana_key = server.key("reviewer", "ana")

    async def main():
        async with AsyncClient(server.base_url, agent_key) as agent, AsyncClient(server.base_url, ana_key) as ana:
            submitted: asyncio.Queue = asyncio.Queue()

            @requires_approval(agent, task="respond_to_client_inquiry", summary="Async reply",
                               confidence=0.95, on_submit=submitted.put_nowait)
            async def send(to: str) -> None:
                raise AssertionError("must not run")

            task = asyncio.ensure_future(send("a@acme.example"))
            h = await asyncio.wait_for(submitted.get(), 10)
            await ana.reject(h.id, "Wrong client")
            with pytest.raises(Rejected) as err:
                await asyncio.wait_for(task, 15)
            assert err.value.rationale == "Wrong client"

    run(main())


def test_the_async_client_waits_lists_streams_and_maps_errors(server):
    agent_key = server.new_agent()._key

    async def main():
        async with AsyncClient(server.base_url, agent_key) as agent:
            h = await agent.submit(task="respond_to_client_inquiry", summary="Wait", confidence=0.95, draft="x")
            with pytest.raises(DecisionTimeout):
                await agent.wait_for_decision(h.id, timeout=0.3)
            cancelled = await agent.cancel(h.id)
            assert (await agent.wait_for_decision(h.id, timeout=5)).status == cancelled.status == "cancelled"
            page = await agent.list(status="cancelled")
            assert [i["id"] for i in page.items] == [h.id]
            assert [x.id async for x in agent.iter_handoffs()] == [h.id]
            async for ev in agent.events(last_event_id=0):
                if ev.data["id"] == h.id and ev.data["status"] == "cancelled":
                    break
            with pytest.raises(NotFound):
                await agent.get("hnd_01JD0000000000000000000000")

    run(main())


def test_cancelling_the_waiting_task_cancels_the_handoff(server):
    agent_key = server.new_agent()._key

    async def main():
        async with AsyncClient(server.base_url, agent_key) as agent:
            submitted: asyncio.Queue = asyncio.Queue()

            @requires_approval(agent, task="respond_to_client_inquiry", summary="Given up",
                               confidence=0.95, on_submit=submitted.put_nowait)
            async def send(to: str) -> None:
                raise AssertionError("must not run")

            task = asyncio.ensure_future(send("a@acme.example"))
            h = await asyncio.wait_for(submitted.get(), 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await agent.get(h.id)).status == "cancelled"

    run(main())
