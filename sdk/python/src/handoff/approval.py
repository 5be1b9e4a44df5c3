"""``@requires_approval``: gate a function behind a human decision.

The call becomes a packet whose ``draft`` is the function's bound arguments (a JSON object,
one member per parameter); it is submitted, waited on, and the function runs only when the
handoff is ``approved`` with a receipt that verifies against the server's key and the
approved draft. A reviewer's edit becomes the arguments the function runs with. Afterwards
the outcome is reported by itself: ``executed`` with the approved draft's SHA-256, or
``failed`` with the exception's text (then the exception is re-raised).

Fail closed: a rejection, expiry, cancellation, hand-over, alert, unknown status, timeout,
bad receipt or an edited draft that does not fit the function's parameters never runs it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import uuid
from typing import Any, Callable, Dict, Iterable, Optional, Tuple, TypeVar, Union, cast

from .async_client import AsyncClient
from .canonical import sha256_hex
from .client import Client
from .errors import DecisionTimeout, HandoffError
from .models import Handoff

__all__ = ["requires_approval", "current_handoff", "UnusableDraft"]

log = logging.getLogger("handoff")

F = TypeVar("F", bound=Callable[..., Any])

_current: contextvars.ContextVar[Optional[Handoff]] = contextvars.ContextVar(
    "handoff_current", default=None
)

MAX_DETAIL = 4000


def current_handoff() -> Optional[Handoff]:
    """Inside a gated function: the approved handoff it runs under (else ``None``)."""
    return _current.get()


class UnusableDraft(Exception):
    """The approved (edited) draft does not fit the function's parameters, so the function
    was not run; the handoff's outcome was reported as ``failed``."""

    def __init__(self, handoff: Handoff, message: str) -> None:
        self.handoff = handoff
        super().__init__(f"handoff {handoff.get('id')}: {message}")


Value = Union[Any, Callable[[Dict[str, Any]], Any]]


def _resolve(value: Value, arguments: Dict[str, Any]) -> Any:
    return value(arguments) if callable(value) else value


class _Gate:
    """What the sync and async wrappers share: building the packet, reading the decision."""

    def __init__(
        self,
        fn: Callable[..., Any],
        task: str,
        fields: Dict[str, Value],
        exclude: Iterable[str],
    ) -> None:
        self.fn = fn
        self.sig = inspect.signature(fn)
        self.task = task
        self.fields = fields
        self.exclude = frozenset(exclude)
        unknown = self.exclude - set(self.sig.parameters)
        if unknown:
            raise TypeError(f"exclude names no parameter of {fn.__name__}: {sorted(unknown)}")

    def bind(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Tuple[inspect.BoundArguments, Dict[str, Any]]:
        bound = self.sig.bind(*args, **kwargs)
        bound.apply_defaults()
        draft = {k: v for k, v in bound.arguments.items() if k not in self.exclude}
        for k, v in draft.items():
            if isinstance(v, tuple):
                draft[k] = list(v)
        sha256_hex(draft)  # raises TypeError/ValueError now when an argument is not JSON
        return bound, draft

    def packet(self, draft: Dict[str, Any]) -> Dict[str, Any]:
        packet: Dict[str, Any] = {"task": self.task}
        for name, value in self.fields.items():
            v = _resolve(value, draft)
            if v is not None:
                packet[name] = v
        packet["draft"] = draft
        return packet

    def call_args(
        self, h: Handoff, bound: inspect.BoundArguments, draft: Dict[str, Any]
    ) -> Tuple[Tuple[Any, ...], Dict[str, Any]]:
        """The arguments to run with: the caller's own when the approved draft is the
        submitted one, else the reviewer's edit, which must name exactly the same
        parameters."""
        approved = h.approved_draft
        if sha256_hex(approved) == sha256_hex(draft):
            return bound.args, bound.kwargs
        if not isinstance(approved, dict) or set(approved) != set(draft):
            raise UnusableDraft(
                h,
                "the approved draft does not name exactly the parameters "
                f"{sorted(draft)}; the function was not run",
            )
        edited = inspect.BoundArguments(self.sig, bound.arguments.copy())
        for name, value in approved.items():
            edited.arguments[name] = value
        return edited.args, edited.kwargs


def _failure_text(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}"
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def requires_approval(
    client: Union[Client, AsyncClient],
    *,
    task: str,
    summary: Value,
    confidence: Value,
    subject: Value = None,
    decision_needed: Value = None,
    recommended_action: Value = None,
    flags: Value = None,
    context: Value = None,
    rubric: Value = None,
    evidence: Value = None,
    assumptions: Value = None,
    open_questions: Value = None,
    options: Value = None,
    callback_url: Value = None,
    supersedes: Value = None,
    exclude: Iterable[str] = (),
    timeout: Optional[float] = None,
    cancel_on_timeout: bool = True,
    verify_receipt: bool = True,
    report_outcome: bool = True,
    on_submit: Optional[Callable[[Handoff], Any]] = None,
) -> Callable[[F], F]:
    """Gate a function (sync with a :class:`Client`, ``async def`` with an
    :class:`AsyncClient`) behind an approval.

    Every packet field may be a value or a callable that takes the draft (the bound
    arguments as a dict) and returns the value, e.g. ``summary=lambda a: f"Reply to
    {a['to']}"``. ``confidence`` is required: the policy judges by it, and the SDK will
    not claim one for you. ``exclude`` names parameters kept out of the draft (``self``,
    a connection); they keep the caller's values.

    ``timeout`` (seconds, ``None`` = wait for good) ends the wait with
    :class:`DecisionTimeout`, after cancelling the handoff unless ``cancel_on_timeout`` is
    false (likewise when the wait is interrupted: ``KeyboardInterrupt``, a cancelled
    asyncio task), so that nobody approves what no agent will do. A handoff that ends otherwise raises :class:`Rejected`, :class:`Expired`,
    :class:`Cancelled`, :class:`HandedOver`, :class:`Alerted` or
    :class:`UnexpectedStatus`, each carrying ``rationale`` and ``handoff``.

    ``on_submit`` is called with the submitted handoff before the wait (to log its id or
    link, or tell a person where to decide).
    """
    fields: Dict[str, Value] = {
        "summary": summary,
        "confidence": confidence,
        "subject": subject,
        "decision_needed": decision_needed,
        "recommended_action": recommended_action,
        "flags": flags,
        "context": context,
        "rubric": rubric,
        "evidence": evidence,
        "assumptions": assumptions,
        "open_questions": open_questions,
        "options": options,
        "callback_url": callback_url,
        "supersedes": supersedes,
    }

    def decorate(fn: F) -> F:
        gate = _Gate(fn, task, fields, exclude)
        if inspect.iscoroutinefunction(fn):
            if not isinstance(client, AsyncClient):
                raise TypeError("an async function is gated with an AsyncClient")
            aclient = client

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                bound, draft = gate.bind(args, kwargs)
                h = await aclient.submit(gate.packet(draft), idempotency_key=str(uuid.uuid4()))
                if on_submit is not None:
                    on_submit(h)
                try:
                    h = await aclient.require_approval(h, timeout, verify=verify_receipt)
                except (DecisionTimeout, asyncio.CancelledError):
                    if cancel_on_timeout:
                        try:
                            await aclient.cancel(h.id)
                        except HandoffError as e:
                            log.warning("handoff %s: cancel after timeout failed: %s", h.id, e)
                    raise
                try:
                    call_args, call_kwargs = gate.call_args(h, bound, draft)
                except UnusableDraft as e:
                    await _areport(aclient, h, report_outcome, "failed", str(e))
                    raise
                token = _current.set(h)
                try:
                    result = await fn(*call_args, **call_kwargs)
                except BaseException as e:
                    await _areport(aclient, h, report_outcome, "failed", _failure_text(e))
                    raise
                finally:
                    _current.reset(token)
                await _areport(aclient, h, report_outcome, "executed", None)
                return result

            return cast(F, async_wrapper)

        if not isinstance(client, Client):
            raise TypeError("a synchronous function is gated with a Client")
        sclient = client

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound, draft = gate.bind(args, kwargs)
            h = sclient.submit(gate.packet(draft), idempotency_key=str(uuid.uuid4()))
            if on_submit is not None:
                on_submit(h)
            try:
                h = sclient.require_approval(h, timeout, verify=verify_receipt)
            except (DecisionTimeout, KeyboardInterrupt):
                if cancel_on_timeout:
                    try:
                        sclient.cancel(h.id)
                    except HandoffError as e:
                        log.warning("handoff %s: cancel after timeout failed: %s", h.id, e)
                raise
            try:
                call_args, call_kwargs = gate.call_args(h, bound, draft)
            except UnusableDraft as e:
                _report(sclient, h, report_outcome, "failed", str(e))
                raise
            token = _current.set(h)
            try:
                result = fn(*call_args, **call_kwargs)
            except BaseException as e:
                _report(sclient, h, report_outcome, "failed", _failure_text(e))
                raise
            finally:
                _current.reset(token)
            _report(sclient, h, report_outcome, "executed", None)
            return result

        return cast(F, wrapper)

    return decorate


def _outcome_args(h: Handoff, result: str, detail: Optional[str]) -> Dict[str, Any]:
    if result == "executed":
        return {"draft_sha256": sha256_hex(h.approved_draft)}
    return {"detail": detail}


def _report(client: Client, h: Handoff, enabled: bool, result: str, detail: Optional[str]) -> None:
    if not enabled:
        return
    try:
        client.outcome(h.id, result, **_outcome_args(h, result, detail))
    except HandoffError as e:
        # The action already ran (or failed); a lost report must not turn into a second
        # attempt or hide the function's own result.
        log.warning("handoff %s: reporting outcome %s failed: %s", h.id, result, e)


async def _areport(client: AsyncClient, h: Handoff, enabled: bool, result: str, detail: Optional[str]) -> None:
    if not enabled:
        return
    try:
        await client.outcome(h.id, result, **_outcome_args(h, result, detail))
    except HandoffError as e:
        log.warning("handoff %s: reporting outcome %s failed: %s", h.id, result, e)
