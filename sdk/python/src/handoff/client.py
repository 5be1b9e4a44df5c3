"""The synchronous client: every operation an agent, a reviewer or an admin uses."""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, TypeVar, Dict, Iterator, List, Mapping, Optional, Union

import httpx

from . import _requests as R
from .errors import DecisionTimeout, ReceiptError, ServerError, TransportError, not_approved
from .models import Event, Handoff, Page
from .receipts import UNSET, verify_receipt
from .sse import SSEParser

T = TypeVar("T")
log = logging.getLogger("handoff")

__all__ = ["Client", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 30.0


def _headers(key: Optional[str], user_agent: str) -> Dict[str, str]:
    h = {"Accept": "application/json", "User-Agent": user_agent}
    if key:
        h["Authorization"] = f"Bearer {key}"
    return h


USER_AGENT = "handoff-sdk-python/0.1"


class Client:
    """A handoff API client bound to one key (one principal).

    ``Client("http://127.0.0.1:8080", key)``; use it as a context manager or call
    :meth:`close`. Errors are :class:`handoff.HandoffError` subclasses.
    """

    def __init__(
        self,
        base_url: str,
        key: Optional[str] = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        http: Optional[httpx.Client] = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._timeout = timeout
        self._http = http or httpx.Client(timeout=timeout, follow_redirects=False)
        self._own_http = http is None
        self._jwks: Optional[Dict[str, Any]] = None

    def __repr__(self) -> str:  # never the key
        return f"Client({self.base_url!r})"

    @classmethod
    def from_env(cls, **kw: Any) -> "Client":
        """A client for ``$HANDOFF_URL`` (default ``http://127.0.0.1:8080``) with the key in
        ``$HANDOFF_KEY``, as the CLI reads them."""
        return cls(os.environ.get("HANDOFF_URL", "http://127.0.0.1:8080"), os.environ.get("HANDOFF_KEY"), **kw)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    # --- plumbing ----------------------------------------------------------------------

    def _run(self, req: "R.Req[T]") -> T:
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
            resp = self._http.request(
                req.method, self.base_url + req.path, params=req.params or None,
                headers=headers, timeout=timeout, **kwargs,
            )
        except httpx.HTTPError as e:
            raise TransportError(f"{type(e).__name__}: {e}") from e
        R.raise_for(resp)
        return req.parse(resp)

    # --- handoffs ----------------------------------------------------------------------

    def submit(
        self,
        packet: Optional[Mapping[str, Any]] = None,
        *,
        idempotency_key: Optional[str] = None,
        **fields: Any,
    ) -> Handoff:
        """``POST /v1/handoffs``: submit a packet (a mapping, and/or its fields as keywords).

        With ``idempotency_key`` a retry of the same body returns the same handoff.
        """
        return self._run(R.submit(packet, fields, idempotency_key))

    def get(self, handoff_id: str, *, wait: Optional[float] = None) -> Handoff:
        """``GET /v1/handoffs/{id}``; with ``wait`` (seconds, at most 60) long-polls while
        the handoff is ``pending``."""
        return self._run(R.get(handoff_id, wait))

    def list(
        self,
        *,
        status: Optional[str] = None,
        task: Optional[str] = None,
        team: Optional[str] = None,
        level: Optional[int] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> Page:
        """``GET /v1/handoffs``: one page; see :meth:`iter_handoffs` for all of them."""
        return self._run(R.list_(status, task, team, level, limit, cursor))

    def iter_handoffs(self, **filters: Any) -> Iterator[Handoff]:
        """Every handoff the filters select, following ``next_cursor``."""
        cursor = None
        while True:
            page = self.list(cursor=cursor, **filters)
            for item in page.items:
                yield Handoff(item)
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def decide(
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
        """``POST /v1/handoffs/{id}/decisions`` (reviewer): ``approve``, ``edit`` (with
        ``draft``), ``reject``/``escalate`` (with ``rationale``), ``take_over``, ``resolve``,
        ``acknowledge``. ``if_match`` is the version decided on (412 when stale)."""
        return self._run(R.decide(handoff_id, action, rationale, draft, option, to_team, if_match))

    def approve(self, handoff_id: str, **kw: Any) -> Handoff:
        return self.decide(handoff_id, "approve", **kw)

    def edit(self, handoff_id: str, draft: Any, **kw: Any) -> Handoff:
        return self.decide(handoff_id, "edit", draft=draft, **kw)

    def reject(self, handoff_id: str, rationale: str, **kw: Any) -> Handoff:
        return self.decide(handoff_id, "reject", rationale=rationale, **kw)

    def cancel(self, handoff_id: str) -> Handoff:
        """``POST /v1/handoffs/{id}/cancel`` (the submitting agent, while pending)."""
        return self._run(R.cancel(handoff_id))

    def outcome(
        self,
        handoff_id: str,
        result: str,
        *,
        detail: Optional[str] = None,
        draft_sha256: Optional[str] = None,
    ) -> Handoff:
        """``POST /v1/handoffs/{id}/outcome``: ``executed``, ``failed`` or ``rolled_back``."""
        return self._run(R.outcome(handoff_id, result, detail, draft_sha256))

    def timeline(self, handoff_id: str) -> List[Dict[str, Any]]:
        """The handoff's audit entries, oldest first."""
        return self._run(R.timeline(handoff_id))

    def explain_policy(self, packet: Mapping[str, Any]) -> Dict[str, Any]:
        """``POST /v1/policy/explain``: the evaluation of a packet, nothing stored."""
        return self._run(R.explain_policy(packet))

    # --- waiting -----------------------------------------------------------------------

    def wait_for_decision(
        self,
        handoff_id: str,
        timeout: Optional[float] = None,
        *,
        poll: float = R.MAX_WAIT,
        retries: int = 6,
    ) -> Handoff:
        """Long-polls until the handoff is no longer ``pending`` and returns it (whatever
        its status: check :attr:`Handoff.is_approved`). ``timeout=None`` waits for good;
        when the timeout runs out first, raises :class:`DecisionTimeout` (never an approval).
        Up to ``retries`` failed requests in a row (no answer, 5xx: a restarting server) are
        retried with backoff; then the error is raised.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        failures = 0
        while True:
            remaining = R.MAX_WAIT if deadline is None else deadline - time.monotonic()
            try:
                h = self.get(handoff_id, wait=max(0.0, min(poll, remaining, R.MAX_WAIT)))
            except (TransportError, ServerError) as e:
                # A restart or a network blip while a person takes their time: try again
                # with backoff, a few times in a row, then give up (never an approval).
                failures += 1
                if failures > retries or (deadline is not None and time.monotonic() >= deadline):
                    raise
                log.info("handoff %s: waiting again after %s", handoff_id, e)
                time.sleep(min(8.0, 0.25 * 2 ** (failures - 1)))
                continue
            failures = 0
            if not h.is_pending:
                return h
            if deadline is not None and time.monotonic() >= deadline:
                raise DecisionTimeout(h, timeout or 0.0)

    def require_approval(
        self,
        handoff: Union[Handoff, str],
        timeout: Optional[float] = None,
        *,
        verify: bool = True,
    ) -> Handoff:
        """Waits for the decision and returns the handoff only when it is ``approved`` with
        a receipt that verifies against the server's key and the approved draft; otherwise
        raises :class:`Rejected`, :class:`Expired`, :class:`Cancelled`, … (fail closed)."""
        h = handoff if isinstance(handoff, Handoff) and not handoff.is_pending else None
        if h is None:
            hid = handoff if isinstance(handoff, str) else handoff.id
            h = self.wait_for_decision(hid, timeout)
        if not h.is_approved:
            raise not_approved(h)
        if verify:
            self.verify_receipt(h.receipt or "", h.approved_draft, handoff_id=h.id)
        return h

    # --- learning ----------------------------------------------------------------------

    def stats(self, *, task: Optional[str] = None, window: Optional[str] = None) -> Dict[str, Any]:
        return self._run(R.stats(task, window))

    def recommendations(self) -> List[Dict[str, Any]]:
        return self._run(R.recommendations())

    def set_task_level(self, task: str, level: int, reason: str) -> Dict[str, Any]:
        """Promote or demote a task type (admin)."""
        return self._run(R.set_task_level(task, level, reason))

    def spot_checks(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page:
        return self._run(R.spot_checks(limit, cursor))

    def spot_check(self, handoff_id: str, verdict: str, *, note: Optional[str] = None) -> Handoff:
        """``fine``, ``would_change`` or ``would_reject``."""
        return self._run(R.spot_check(handoff_id, verdict, note))

    def export_decisions(
        self, *, task: Optional[str] = None, since: Optional[str] = None, until: Optional[str] = None
    ) -> Iterator[Dict[str, Any]]:
        """``GET /v1/export/decisions`` (admin): one dict per line, streamed."""
        req = R.Req("GET", "/v1/export/decisions", lambda r: r, params=R.export_params(task, since, until))
        headers = _headers(self._key, USER_AGENT)
        headers["Accept"] = "application/x-ndjson"
        try:
            with self._http.stream("GET", self.base_url + req.path, params=req.params or None,
                                   headers=headers, timeout=httpx.Timeout(self._timeout, read=120.0)) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    R.raise_for(resp)
                for line in resp.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.HTTPError as e:
            raise TransportError(f"{type(e).__name__}: {e}") from e

    # --- events ------------------------------------------------------------------------

    def events(
        self,
        last_event_id: Union[str, int, None] = None,
        *,
        reconnect: bool = True,
        max_reconnects: Optional[int] = None,
    ) -> Iterator[Event]:
        """``GET /v1/events`` as an iterator of :class:`Event`. A broken connection is
        resumed from the last event seen (``Last-Event-ID``) unless ``reconnect=False``.
        Pass ``last_event_id`` to replay what came after an earlier event."""
        last = None if last_event_id is None else str(last_event_id)
        attempts = 0
        while True:
            headers = _headers(self._key, USER_AGENT)
            headers["Accept"] = "text/event-stream"
            if last is not None:
                headers["Last-Event-ID"] = last
            parser = SSEParser()
            try:
                with self._http.stream("GET", self.base_url + "/v1/events", headers=headers,
                                       timeout=httpx.Timeout(self._timeout, read=60.0)) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        R.raise_for(resp)
                    attempts = 0
                    for line in resp.iter_lines():
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
            time.sleep(min(30.0, (parser.retry_ms or 1000) / 1000.0 * attempts))

    # --- receipts ----------------------------------------------------------------------

    def receipt_jwks(self, *, refresh: bool = False) -> Dict[str, Any]:
        """``GET /v1/receipt-key`` (cached after the first call)."""
        if self._jwks is None or refresh:
            self._jwks = self._run(R.receipt_key())
        assert self._jwks is not None
        return self._jwks

    def verify_receipt(
        self, receipt: str, draft: Any = None, *, handoff_id: Optional[str] = None
    ) -> Dict[str, Any]:
        """Checks a receipt against the server's key set (signature, ``exp``) and, when
        ``draft`` is given, that it is exactly the approved draft. Returns the payload;
        raises :class:`handoff.ReceiptError`. An unknown ``kid`` refetches the key set once
        (a rotated key)."""
        try:
            return verify_receipt(receipt, self.receipt_jwks(), draft, handoff_id=handoff_id)
        except ReceiptError as e:
            if "no key with kid" not in str(e):
                raise
            return verify_receipt(receipt, self.receipt_jwks(refresh=True), draft, handoff_id=handoff_id)

    # --- admin -------------------------------------------------------------------------

    def create_key(self, role: str, name: str) -> Dict[str, Any]:
        """``POST /v1/keys`` (admin): ``{name, role, key}``, the key shown once."""
        return self._run(R.create_key(role, name))

    def revoke_key(self, name: str) -> None:
        self._run(R.revoke_key(name))

    def get_policy(self) -> str:
        return self._run(R.get_policy())

    def put_policy(self, toml: str) -> Dict[str, Any]:
        return self._run(R.put_policy(toml))

    def audit(self, *, after: Optional[int] = None, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """``GET /v1/audit`` (admin): audit entries after ``after``, oldest first."""
        return self._run(R.audit(after, limit))

    def verify_audit(self, *, checkpoint: Optional[str] = None) -> Dict[str, Any]:
        """``GET /v1/audit/verify`` (admin): the chain check, against a checkpoint if given."""
        return self._run(R.verify_audit(checkpoint))

    def create_checkpoint(self) -> Dict[str, Any]:
        """``POST /v1/audit/checkpoints`` (admin): ``{seq, hash, at, jws}``."""
        return self._run(R.create_checkpoint())

    def healthz(self) -> None:
        self._run(R.healthz())
