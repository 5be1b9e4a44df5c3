"""Offline verification of approval receipts (SPEC §3).

A receipt is a compact JWS (``{alg: "EdDSA", kid, typ: "JWT"}``, Ed25519) whose payload is
``{handoff, task, draft_sha256, approvers, iat, exp}``; the server also offers it as
``receipt_ed25519``, under RFC 9864's fully specified name (``alg: "Ed25519"``, same payload
and key). :func:`verify_receipt` checks it by hand against a JWK Set, with one algorithm
under its two names and no negotiation: anything else is refused, so there is no algorithm
confusion to switch off.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Any, Dict, List, Mapping, Optional

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .canonical import sha256_hex
from .errors import ReceiptError

__all__ = ["verify_receipt", "decode_unverified", "CLOCK_SKEW_SECONDS", "UNSET"]

ALGORITHMS = ("EdDSA", "Ed25519")
"""The one algorithm's two names: RFC 8037's ``EdDSA`` and RFC 9864's ``Ed25519``."""

CLOCK_SKEW_SECONDS = 300
"""How far in the future ``iat`` may lie (clocks of signer and verifier drift)."""

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""Marks an argument not given where ``None`` would mean JSON ``null`` (a decision's draft)."""


def _b64url(part: str, what: str) -> bytes:
    if not _B64URL.match(part) or len(part) % 4 == 1:
        raise ReceiptError(f"malformed receipt: {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as e:
        raise ReceiptError(f"malformed receipt: {what} is not base64url") from e


def _json_object(raw: bytes, what: str) -> Dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ReceiptError(f"malformed receipt: {what} is not JSON") from e
    if not isinstance(value, dict):
        raise ReceiptError(f"malformed receipt: {what} is not a JSON object")
    return value


def decode_unverified(receipt: str) -> Dict[str, Any]:
    """The payload, NOT verified: for display only, never to decide anything."""
    parts = receipt.split(".")
    if len(parts) != 3:
        raise ReceiptError("malformed receipt: expected three dot-separated parts")
    return _json_object(_b64url(parts[1], "payload"), "payload")


def _find_key(jwks: Mapping[str, Any], kid: Optional[str]) -> Ed25519PublicKey:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise ReceiptError('malformed key set: no "keys" array')
    if kid is not None:
        matches = [k for k in keys if isinstance(k, dict) and k.get("kid") == kid]
        if not matches:
            raise ReceiptError(f"no key with kid {kid!r} in the key set")
        jwk = matches[0]
    elif len(keys) == 1 and isinstance(keys[0], dict):
        jwk = keys[0]
    else:
        raise ReceiptError("the receipt names no kid and the key set does not hold exactly one key")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ReceiptError("unusable key: not an OKP Ed25519 key")
    # Either name will do: the curve, checked above, is what makes the key Ed25519.
    if jwk.get("alg", "EdDSA") not in ALGORITHMS or jwk.get("use", "sig") != "sig":
        raise ReceiptError("unusable key: not meant for EdDSA signatures")
    x = jwk.get("x")
    raw = _b64url(x, "the key's x") if isinstance(x, str) else b""
    if len(raw) != 32:
        raise ReceiptError("unusable key: x is not 32 base64url bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_receipt(
    receipt: str,
    jwks: Mapping[str, Any],
    draft: Any = None,
    *,
    handoff_id: Optional[str] = None,
    now: Optional[float] = None,
) -> Dict[str, Any]:
    """Checks a receipt and returns its payload.

    - the signature, with the key of the JWK Set that the header's ``kid`` names;
    - ``exp`` (not yet passed) and ``iat`` (not more than five minutes ahead);
    - when ``draft`` is given (not ``None``: the server takes a ``null`` draft for no draft):
      that the SHA-256 of its RFC 8785 canonical JSON is the receipt's ``draft_sha256``;
    - when ``handoff_id`` is given: that the receipt is for that handoff.

    Raises :class:`handoff.errors.ReceiptError` on any failure.
    """
    if not isinstance(receipt, str):
        raise ReceiptError("malformed receipt: not a string")
    parts = receipt.split(".")
    if len(parts) != 3:
        raise ReceiptError("malformed receipt: expected three dot-separated parts")
    header_b64, payload_b64, sig_b64 = parts
    header = _json_object(_b64url(header_b64, "header"), "header")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise ReceiptError("malformed receipt: header has no alg")
    if alg not in ALGORITHMS:
        raise ReceiptError(
            f"unsupported algorithm {alg!r}: receipts are signed with EdDSA (or Ed25519)"
        )
    if "crit" in header:
        raise ReceiptError("malformed receipt: unsupported crit header")
    # The same key signs audit checkpoints (typ "handoff-checkpoint"): never take one for
    # a receipt.
    if header.get("typ", "JWT") != "JWT":
        raise ReceiptError(f"not a receipt: typ {header.get('typ')!r}")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise ReceiptError("malformed receipt: kid is not a string")
    key = _find_key(jwks, kid)
    sig = _b64url(sig_b64, "signature")
    if len(sig) != 64:
        raise ReceiptError("malformed receipt: signature is not 64 bytes")
    try:
        key.verify(sig, f"{header_b64}.{payload_b64}".encode("ascii"))
    except InvalidSignature as e:
        raise ReceiptError(
            "bad signature: the receipt was not signed by this key, or was altered"
        ) from e

    payload = _json_object(_b64url(payload_b64, "payload"), "payload")
    _check_shape(payload)
    t = int(time.time() if now is None else now)
    if payload["exp"] <= t:
        raise ReceiptError(f"receipt expired at {payload['exp']} (now {t}, Unix seconds)")
    if payload["iat"] > t + CLOCK_SKEW_SECONDS:
        raise ReceiptError(f"receipt issued in the future at {payload['iat']} (now {t})")
    if handoff_id is not None and payload["handoff"] != handoff_id:
        raise ReceiptError(
            f"the receipt is for handoff {payload['handoff']!r}, not {handoff_id!r}"
        )
    if draft is not None and draft is not UNSET:
        approved = payload["draft_sha256"]
        if approved is None:
            raise ReceiptError("the receipt binds no draft (draft_sha256 is null)")
        try:
            actual = sha256_hex(draft)
        except (TypeError, ValueError) as e:
            raise ReceiptError(f"the draft is not JSON: {e}") from e
        if actual != approved:
            raise ReceiptError(
                f"the draft's SHA-256 {actual} differs from the approved {approved}"
            )
    return payload


def _check_shape(p: Dict[str, Any]) -> None:
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    ok = (
        isinstance(p.get("handoff"), str)
        and isinstance(p.get("task"), str)
        and "draft_sha256" in p
        and (p["draft_sha256"] is None or isinstance(p["draft_sha256"], str))
        and isinstance(p.get("approvers"), list)
        and all(isinstance(a, str) for a in p["approvers"])
        and is_int(p.get("iat"))
        and is_int(p.get("exp"))
    )
    if not ok:
        raise ReceiptError(
            "malformed receipt: the payload is not {handoff, task, draft_sha256, approvers, iat, exp}"
        )


def approvers(payload: Mapping[str, Any]) -> List[str]:
    """The payload's approvers (``["policy"]`` for an autonomous handoff)."""
    return list(payload.get("approvers") or [])
