"""RFC 8785 (JSON Canonicalization Scheme) and the SHA-256 of it.

A draft's ``sha256`` (in ``draft_versions``), a receipt's ``draft_sha256`` and the digest an
``executed`` outcome quotes are the lowercase hex SHA-256 of the draft's canonical JSON.
This module computes exactly what the server computes
(``crates/handoff-domain/src/canonical.rs``), so that a receipt can be checked against the
draft the agent is about to act on.

The JSON subset is what :func:`json.loads` produces (``dict`` with ``str`` keys, ``list``,
``str``, ``int``, ``float``, ``bool``, ``None``); tuples are accepted as arrays.
"""

from __future__ import annotations

import hashlib
import math
from decimal import Decimal
from typing import Any, List, Optional, Tuple

__all__ = ["canonical_json", "sha256_hex"]

# The server prints integers exactly when they fit an i64 or a u64; beyond that range its
# JSON parser reads them as doubles, printed the ECMAScript way.
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def canonical_json(value: Any) -> str:
    """The RFC 8785 canonical text of ``value``: keys sorted by UTF-16 code units, no
    whitespace, minimal string escapes, numbers as ECMAScript prints them."""
    out: List[str] = []
    _write(out, value)
    return "".join(out)


def sha256_hex(value: Any) -> str:
    """Lowercase hex SHA-256 of the UTF-8 canonical JSON of ``value`` (the ``draft_sha256``)."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def _write(out: List[str], v: Any) -> None:
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, int):
        out.append(str(v) if _INT_MIN <= v <= _INT_MAX else es_number(float(v)))
    elif isinstance(v, float):
        out.append(es_number(v))
    elif isinstance(v, str):
        _write_string(out, v)
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _write(out, item)
        out.append("]")
    elif isinstance(v, dict):
        for k in v:
            if not isinstance(k, str):
                raise TypeError(f"JSON object keys must be strings, not {type(k).__name__}")
        # UTF-16BE bytes compare as the UTF-16 code units do (RFC 8785 §3.2.3), which
        # differs from code point order above U+FFFF.
        keys = sorted(v, key=lambda k: _utf16(k))
        out.append("{")
        for i, k in enumerate(keys):
            if i:
                out.append(",")
            _write_string(out, k)
            out.append(":")
            _write(out, v[k])
        out.append("}")
    else:
        raise TypeError(f"{type(v).__name__} is not JSON")


def _utf16(s: str) -> bytes:
    try:
        return s.encode("utf-16-be")
    except UnicodeEncodeError as e:
        raise ValueError("a lone surrogate is not I-JSON") from e


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _write_string(out: List[str], s: str) -> None:
    """JSON.stringify's escaping: only ``"``, ``\\`` and C0 controls (RFC 8785 §3.2.2.2)."""
    parts = ['"']
    for c in s:
        o = ord(c)
        if c in _ESCAPES:
            parts.append(_ESCAPES[c])
        elif o < 0x20:
            parts.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDFFF:
            raise ValueError("a lone surrogate is not I-JSON")
        else:
            parts.append(c)
    parts.append('"')
    out.append("".join(parts))


def es_number(x: float) -> str:
    """ECMAScript ``Number.prototype.toString`` of a finite double (ECMA-262 §6.1.6.1.20)."""
    if math.isnan(x) or math.isinf(x):
        raise ValueError("NaN and infinities are not JSON")
    if x == 0.0:
        return "0"  # -0 too
    if x < 0:
        return "-" + es_number(-x)
    digits, exponent = _shortest_digits(x)
    k = len(digits)
    n = exponent + 1
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    sign = "-" if n - 1 < 0 else "+"
    first, rest = digits[0], digits[1:]
    return f"{first}{'.' if rest else ''}{rest}e{sign}{abs(n - 1)}"


def _split(sci: str) -> Tuple[str, int]:
    """``"1.2345e-07"`` → (``"12345"``, -7)."""
    mantissa, _, exp = sci.partition("e")
    return mantissa.replace(".", ""), int(exp or "0")


def _shortest_digits(x: float) -> Tuple[str, int]:
    """The shortest round-trip significant digits of ``x > 0`` and the first one's exponent.

    ``repr`` gives the shortest digits; where two shortest candidates are equally near
    (``x`` exactly halfway), ECMAScript takes the even one, which is settled here exactly.
    """
    digits, exponent = _split(_repr_sci(x))
    digits = digits.rstrip("0") or "0"
    if int(digits[-1]) % 2 == 1:
        even = _even_tie(x, digits, exponent)
        if even is not None:
            return even, exponent
    return digits, exponent


def _repr_sci(x: float) -> str:
    """``repr(x)`` (shortest round-trip) rewritten as ``d.ddde±N`` without losing digits."""
    r = repr(x)
    if "e" in r or "E" in r:
        mant, _, exp = r.lower().partition("e")
        e = int(exp)
    else:
        mant, e = r, 0
    int_part, _, frac = mant.partition(".")
    all_digits = (int_part + frac).lstrip("0")
    # Position of the decimal point relative to the first significant digit.
    if int_part.strip("0"):
        point = len(int_part.lstrip("0"))
    else:
        point = -(len(frac) - len(frac.lstrip("0")))
    exponent = e + point - 1
    return f"{all_digits[0]}.{all_digits[1:] or '0'}e{exponent}"


def _even_tie(x: float, digits: str, exponent: int) -> Optional[str]:
    exact = Decimal(x)  # the double's exact value
    k = len(digits)
    # The value of the shortest candidate, and its neighbour one unit of the last digit away.
    unit = Decimal(1).scaleb(exponent - k + 1)
    here = Decimal(int(digits)).scaleb(exponent - k + 1)
    if exact == here:
        return None
    other = here - unit if exact < here else here + unit
    if abs(exact - here) != abs(exact - other):
        return None
    alt = str(int(other.scaleb(-(exponent - k + 1))))
    if len(alt) != k:
        return None
    if float(f"{alt[0]}.{alt[1:] or '0'}e{exponent}") != x:
        return None
    return alt if int(alt[-1]) % 2 == 0 else None
