"""The asynchronous client: the same operations as :class:`handoff.Client`, awaitable."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any, TypeVar, AsyncIterator, Dict, List, Mapping, Optional, Union

import httpx

from . import _requests as R
from .client import DEFAULT_TIMEOUT, USER_AGENT, _headers
from .errors import DecisionTimeout, ReceiptError, ServerError, TransportError, not_approved
from .models import Event, Handoff, Page
from .receipts import UNSET, verify_receipt
from .sse import SSEParser

T = TypeVar("T")
log = logging.getLogger("handoff")

__all__ = ["AsyncClient"]


class AsyncClient:
    """``async with AsyncClient(base_url, key) as c: h = await c.submit(...)``."""

    def __init__(
        self,
        base_url: str,
        key: Optional[str] = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        http: Optional[httpx.AsyncClient] = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._timeout = timeout
        self._http = http or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._own_http = http is None
        self._jwks: Optional[Dict[str, Any]] = None

    def __repr__(self) -> str:
        return f"AsyncClient({self.base_url!r})"

    @classmethod
    def from_env(cls, **kw: Any) -> "AsyncClient":
        """As :meth:`handoff.Client.from_env`."""
        return cls(os.environ.get("HANDOFF_URL", "http://127.0.0.1:8080"), os.environ.get("HANDOFF_KEY"), **kw)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def _run(self, req: "R.Req[T]") -> T:
        headers = _headers(self._key if req.auth else None, USER_AGENT)
        headers.update(req.headers)
        timeout = httpx.Timeout(self._timeout, read=req.read_timeout or self._timeout)
        kwargs: Dict[str, Any] = {}
        if isinstance(req.body, str):
            kwargs["content"] = req.body.encode("utf-8")
        elif req.body is not UNSET:
            kwargs["content"] = json.dumps(req.body, ensure_ascii=False, allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            resp = await self._http.request(
                req.method, self.base_url + req.path, params=req.params or None,
                headers=headers, timeout=timeout, **kwargs,
            )
        except httpx.HTTPError as e:
            raise TransportError(f"{type(e).__name__}: {e}") from e
        R.raise_for(resp)
        return req.parse(resp)

    # --- handoffs ----------------------------------------------------------------------

    async def submit(
        self,
        packet: Optional[Mapping[str, Any]] = None,
        *,
        idempotency_key: Optional[str] = None,
        **fields: Any,
    ) -> Handoff:
        return await self._run(R.submit(packet, fields, idempotency_key))

    async def get(self, handoff_id: str, *, wait: Optional[float] = None) -> Handoff:
        return await self._run(R.get(handoff_id, wait))

    async def list(
        self,
        *,
        status: Optional[str] = None,
        task: Optional[str] = None,
        team: Optional[str] = None,
        level: Optional[int] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> Page:
        return await self._run(R.list_(status, task, team, level, limit, cursor))

    async def iter_handoffs(self, **filters: Any) -> AsyncIterator[Handoff]:
        cursor = None
        while True:
            page = await self.list(cursor=cursor, **filters)
            for item in page.items:
                yield Handoff(item)
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def decide(
        self,
        handoff_id: str,
        action: str,
        *,
        rationale: Optional[str] = None,
        draft: Any = UNSET,
        option: Optional[str] = None,
        to_team: Optional[str] = None,
        if_match: Union[int, str, None] = None,
    ) -> Handoff:
        return await self._run(R.decide(handoff_id, action, rationale, draft, option, to_team, if_match))

    async def approve(self, handoff_id: str, **kw: Any) -> Handoff:
        return await self.decide(handoff_id, "approve", **kw)

    async def edit(self, handoff_id: str, draft: Any, **kw: Any) -> Handoff:
        return await self.decide(handoff_id, "edit", draft=draft, **kw)

    async def reject(self, handoff_id: str, rationale: str, **kw: Any) -> Handoff:
        return await self.decide(handoff_id, "reject", rationale=rationale, **kw)

    async def cancel(self, handoff_id: str) -> Handoff:
        return await self._run(R.cancel(handoff_id))

    async def outcome(
        self,
        handoff_id: str,
        result: str,
        *,
        detail: Optional[str] = None,
        draft_sha256: Optional[str] = None,
    ) -> Handoff:
        return await self._run(R.outcome(handoff_id, result, detail, draft_sha256))

    async def timeline(self, handoff_id: str) -> List[Dict[str, Any]]:
        return await self._run(R.timeline(handoff_id))

    async def explain_policy(self, packet: Mapping[str, Any]) -> Dict[str, Any]:
        return await self._run(R.explain_policy(packet))

    # --- waiting -----------------------------------------------------------------------

    async def wait_for_decision(
        self,
        handoff_id: str,
        timeout: Optional[float] = None,
        *,
        poll: float = R.MAX_WAIT,
        retries: int = 6,
    ) -> Handoff:
        """As :meth:`handoff.Client.wait_for_decision`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        failures = 0
        while True:
            remaining = R.MAX_WAIT if deadline is None else deadline - time.monotonic()
            try:
                h = await self.get(handoff_id, wait=max(0.0, min(poll, remaining, R.MAX_WAIT)))
            except (TransportError, ServerError) as e:
                # A restart or a network blip while a person takes their time: try again
                # with backoff, a few times in a row, then give up (never an approval).
                failures += 1
                if failures > retries or (deadline is not None and time.monotonic() >= deadline):
                    raise
                log.info("handoff %s: waiting again after %s", handoff_id, e)
                await asyncio.sleep(min(8.0, 0.25 * 2 ** (failures - 1)))
                continue
            failures = 0
            if not h.is_pending:
                return h
            if deadline is not None and time.monotonic() >= deadline:
                raise DecisionTimeout(h, timeout or 0.0)

    async def require_approval(
        self,
        handoff: Union[Handoff, str],
        timeout: Optional[float] = None,
        *,
        verify: bool = True,
    ) -> Handoff:
        """As :meth:`handoff.Client.require_approval`."""
        h = handoff if isinstance(handoff, Handoff) and not handoff.is_pending else None
        if h is None:
            hid = handoff if isinstance(handoff, str) else handoff.id
            h = await self.wait_for_decision(hid, timeout)
        if not h.is_approved:
            raise not_approved(h)
        if verify:
            await self.verify_receipt(h.receipt or "", h.approved_draft, handoff_id=h.id)
        return h

    # --- learning ----------------------------------------------------------------------

    async def stats(self, *, task: Optional[str] = None, window: Optional[str] = None) -> Dict[str, Any]:
        return await self._run(R.stats(task, window))

    async def recommendations(self) -> List[Dict[str, Any]]:
        return await self._run(R.recommendations())

    async def set_task_level(self, task: str, level: int, reason: str) -> Dict[str, Any]:
        return await self._run(R.set_task_level(task, level, reason))

    async def spot_checks(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page:
        return await self._run(R.spot_checks(limit, cursor))

    async def spot_check(self, handoff_id: str, verdict: str, *, note: Optional[str] = None) -> Handoff:
        return await self._run(R.spot_check(handoff_id, verdict, note))

    async def export_decisions(
        self, *, task: Optional[str] = None, since: Optional[str] = None, until: Optional[str] = None
    ) -> AsyncIterator[Dict[str, Any]]:
        headers = _headers(self._key, USER_AGENT)
        headers["Accept"] = "application/x-ndjson"
        try:
            async with self._http.stream(
                "GET", self.base_url + "/v1/export/decisions", params=R.export_params(task, since, until) or None,
                headers=headers, timeout=httpx.Timeout(self._timeout, read=120.0),
            ) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    R.raise_for(resp)
                async for line in resp.aiter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.HTTPError as e:
            raise TransportError(f"{type(e).__name__}: {e}") from e

    # --- events ------------------------------------------------------------------------

    async def events(
        self,
        last_event_id: Union[str, int, None] = None,
        *,
        reconnect: bool = True,
        max_reconnects: Optional[int] = None,
    ) -> AsyncIterator[Event]:
        """As :meth:`handoff.Client.events`."""
        last = None if last_event_id is None else str(last_event_id)
        attempts = 0
        while True:
            headers = _headers(self._key, USER_AGENT)
            headers["Accept"] = "text/event-stream"
            if last is not None:
                headers["Last-Event-ID"] = last
            parser = SSEParser()
            try:
                async with self._http.stream(
                    "GET", self.base_url + "/v1/events", headers=headers,
                    timeout=httpx.Timeout(self._timeout, read=60.0),
                ) as resp:
                    if resp.status_code >= 400:
                        await resp.aread()
                        R.raise_for(resp)
                    attempts = 0
                    async for line in resp.aiter_lines():
                        ev = parser.feed(line)
                        if ev is not None:
                            if ev.id is not None:
                                last = ev.id
                            yield ev
            except (httpx.TransportError, httpx.RemoteProtocolError) as e:
                if not reconnect or (max_reconnects is not None and attempts >= max_reconnects):
                    raise TransportError(f"{type(e).__name__}: {e}") from e
            if not reconnect:
                return
            attempts += 1
            await asyncio.sleep(min(30.0, (parser.retry_ms or 1000) / 1000.0 * attempts))

    # --- receipts ----------------------------------------------------------------------

    async def receipt_jwks(self, *, refresh: bool = False) -> Dict[str, Any]:
        if self._jwks is None or refresh:
            self._jwks = await self._run(R.receipt_key())
        assert self._jwks is not None
        return self._jwks

    async def verify_receipt(
        self, receipt: str, draft: Any = None, *, handoff_id: Optional[str] = None
    ) -> Dict[str, Any]:
        try:
            return verify_receipt(receipt, await self.receipt_jwks(), draft, handoff_id=handoff_id)
        except ReceiptError as e:
            if "no key with kid" not in str(e):
                raise
            jwks = await self.receipt_jwks(refresh=True)
            return verify_receipt(receipt, jwks, draft, handoff_id=handoff_id)

    # --- admin -------------------------------------------------------------------------

    async def create_key(self, role: str, name: str) -> Dict[str, Any]:
        return await self._run(R.create_key(role, name))

    async def revoke_key(self, name: str) -> None:
        await self._run(R.revoke_key(name))

    async def get_policy(self) -> str:
        return await self._run(R.get_policy())

    async def put_policy(self, toml: str) -> Dict[str, Any]:
        return await self._run(R.put_policy(toml))

    async def audit(self, *, after: Optional[int] = None, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """``GET /v1/audit`` (admin): audit entries after ``after``, oldest first."""
        return await self._run(R.audit(after, limit))

    async def verify_audit(self, *, checkpoint: Optional[str] = None) -> Dict[str, Any]:
        """``GET /v1/audit/verify`` (admin): the chain check, against a checkpoint if given."""
        return await self._run(R.verify_audit(checkpoint))

    async def create_checkpoint(self) -> Dict[str, Any]:
        """``POST /v1/audit/checkpoints`` (admin): ``{seq, hash, at, jws}``."""
        return await self._run(R.create_checkpoint())

    async def healthz(self) -> None:
        await self._run(R.healthz())
