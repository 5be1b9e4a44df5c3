"""The API's operations as request descriptions, shared by :class:`Client` and
:class:`AsyncClient` so that both send exactly the same requests and read the same answers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generic, List, Mapping, Optional, TypeVar, Union
from urllib.parse import quote

import httpx

from .errors import HandoffError, error_for
from .models import Handoff, Page
from .receipts import UNSET

MAX_WAIT = 60.0
"""The server serves at most 60 s of one long-poll."""


T = TypeVar("T")


@dataclass
class Req(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Dict[str, Any] = field(default_factory=dict)
    body: Any = UNSET
    headers: Dict[str, str] = field(default_factory=dict)
    # The read timeout for this request (a long-poll needs more than the default).
    read_timeout: Optional[float] = None
    auth: bool = True


def seg(value: str) -> str:
    """One path segment, escaped so an id can never reach another route."""
    return quote(str(value), safe="")


def _json(resp: httpx.Response) -> Dict[str, Any]:
    body: Dict[str, Any] = resp.json()
    return body


def _handoff(resp: httpx.Response) -> Handoff:
    return Handoff(resp.json())


def _page(resp: httpx.Response) -> Page:
    body = resp.json()
    return Page(items=list(body.get("items") or []), next_cursor=body.get("next_cursor"), raw=body)


def _items(resp: httpx.Response) -> List[Dict[str, Any]]:
    return list(resp.json().get("items", []))


def _none(resp: httpx.Response) -> None:
    return None


def _text(resp: httpx.Response) -> str:
    return resp.text


def _clean(params: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def raise_for(resp: httpx.Response) -> None:
    """Turns an error answer into its :class:`HandoffError`."""
    if resp.status_code < 400:
        return
    try:
        body = json.loads(resp.content) if resp.content else None
    except ValueError:
        body = None
    err: HandoffError = error_for(
        resp.status_code, body, resp.reason_phrase, resp.headers.get("x-request-id")
    )
    if body is None and resp.content and not err.detail:
        err.detail = resp.text[:500]
    raise err


# --- handoffs --------------------------------------------------------------------------


def submit(
    packet: Optional[Mapping[str, Any]], fields: Mapping[str, Any], idempotency_key: Optional[str]
) -> "Req[Handoff]":
    body: Dict[str, Any] = dict(packet or {})
    body.update(fields)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return Req("POST", "/v1/handoffs", _handoff, body=body, headers=headers)


def get(handoff_id: str, wait: Optional[float]) -> "Req[Handoff]":
    params: Dict[str, Any] = {}
    read = None
    if wait is not None:
        if wait < 0:
            raise ValueError("wait must be >= 0")
        w = min(float(wait), MAX_WAIT)
        # Plain decimal text (never "1e-05"), to the millisecond.
        params["wait"] = f"{w:.3f}".rstrip("0").rstrip(".")
        read = w + 15.0
    return Req("GET", f"/v1/handoffs/{seg(handoff_id)}", _handoff, params=params, read_timeout=read)


def list_(
    status: Optional[str],
    task: Optional[str],
    team: Optional[str],
    level: Optional[int],
    limit: Optional[int],
    cursor: Optional[str],
) -> "Req[Page]":
    params = _clean(
        {"status": status, "task": task, "team": team, "level": level, "limit": limit, "cursor": cursor}
    )
    return Req("GET", "/v1/handoffs", _page, params=params)


def decide(
    handoff_id: str,
    action: str,
    rationale: Optional[str],
    draft: Any,
    option: Optional[str],
    to_team: Optional[str],
    if_match: Union[int, str, None],
) -> "Req[Handoff]":
    body: Dict[str, Any] = {"action": action}
    if rationale is not None:
        body["rationale"] = rationale
    if draft is not UNSET:
        body["draft"] = draft
    if option is not None:
        body["option"] = option
    if to_team is not None:
        body["to_team"] = to_team
    headers = {"If-Match": f'"{if_match}"'} if if_match is not None else {}
    return Req("POST", f"/v1/handoffs/{seg(handoff_id)}/decisions", _handoff, body=body, headers=headers)


def cancel(handoff_id: str) -> "Req[Handoff]":
    return Req("POST", f"/v1/handoffs/{seg(handoff_id)}/cancel", _handoff)


def outcome(
    handoff_id: str, result: str, detail: Optional[str], draft_sha256: Optional[str]
) -> "Req[Handoff]":
    body = _clean({"result": result, "detail": detail, "draft_sha256": draft_sha256})
    return Req("POST", f"/v1/handoffs/{seg(handoff_id)}/outcome", _handoff, body=body)


def timeline(handoff_id: str) -> "Req[List[Dict[str, Any]]]":
    return Req("GET", f"/v1/handoffs/{seg(handoff_id)}/timeline", _items)


def explain_policy(packet: Mapping[str, Any]) -> "Req[Dict[str, Any]]":
    return Req("POST", "/v1/policy/explain", _json, body=dict(packet))


# --- learning --------------------------------------------------------------------------


def stats(task: Optional[str], window: Optional[str]) -> "Req[Dict[str, Any]]":
    return Req("GET", "/v1/stats", _json, params=_clean({"task": task, "window": window}))


def recommendations() -> "Req[List[Dict[str, Any]]]":
    return Req("GET", "/v1/recommendations", _items)


def set_task_level(task: str, level: int, reason: str) -> "Req[Dict[str, Any]]":
    return Req(
        "POST", f"/v1/tasks/{seg(task)}/level", _json, body={"level": level, "reason": reason}
    )


def spot_checks(limit: Optional[int], cursor: Optional[str]) -> "Req[Page]":
    return Req("GET", "/v1/spot-checks", _page, params=_clean({"limit": limit, "cursor": cursor}))


def spot_check(handoff_id: str, verdict: str, note: Optional[str]) -> "Req[Handoff]":
    body = _clean({"verdict": verdict, "note": note})
    return Req("POST", f"/v1/handoffs/{seg(handoff_id)}/spot-check", _handoff, body=body)


def export_params(task: Optional[str], since: Optional[str], until: Optional[str]) -> Dict[str, Any]:
    return _clean({"task": task, "since": since, "until": until})


# --- admin and public ------------------------------------------------------------------


def create_key(role: str, name: str) -> "Req[Dict[str, Any]]":
    return Req("POST", "/v1/keys", _json, body={"role": role, "name": name})


def revoke_key(name: str) -> "Req[None]":
    return Req("DELETE", f"/v1/keys/{seg(name)}", _none)


def get_policy() -> "Req[str]":
    return Req("GET", "/v1/policy", _text)


def put_policy(toml: str) -> "Req[Dict[str, Any]]":
    return Req("PUT", "/v1/policy", _json, body=toml, headers={"Content-Type": "application/toml"})


def _ndjson(resp: httpx.Response) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in resp.text.splitlines() if line.strip()]


def audit(after: Optional[int], limit: Optional[int]) -> "Req[List[Dict[str, Any]]]":
    return Req("GET", "/v1/audit", _ndjson, params=_clean({"after": after, "limit": limit}))


def verify_audit(checkpoint: Optional[str]) -> "Req[Dict[str, Any]]":
    return Req("GET", "/v1/audit/verify", _json, params=_clean({"checkpoint": checkpoint}), read_timeout=300.0)


def create_checkpoint() -> "Req[Dict[str, Any]]":
    return Req("POST", "/v1/audit/checkpoints", _json)


def receipt_key() -> "Req[Dict[str, Any]]":
    return Req("GET", "/v1/receipt-key", _json, auth=False)


def healthz() -> "Req[None]":
    return Req("GET", "/healthz", _none, auth=False)
