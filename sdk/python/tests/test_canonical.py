"""RFC 8785 digests: the published vectors, and the real server's `draft_versions[].sha256`
for drafts sent as JSON text of every awkward kind."""

from __future__ import annotations

import json
import struct

import httpx
import pytest

from handoff import canonical_json, sha256_hex
from handoff.canonical import es_number


def test_the_rfc_8785_example_canonicalizes_as_published():
    value = json.loads(
        r'''{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
             "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
             "literals": [null, true, false]}'''
    )
    assert canonical_json(value) == (
        r'''{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'''
        r'''"string":"€$\u000f\nA'B\"\\\\\"/"}'''
    )


def test_keys_sort_by_utf16_code_units():
    value = json.loads(
        r'''{"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\ud83d\ude00": 5, "\u0080": 6, "\u00f6": 7}'''
    )
    keys = list(json.loads(canonical_json(value)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001F600", "\ufb33"]


@pytest.mark.parametrize(
    "bits,text",
    [
        (0x0000000000000000, "0"), (0x8000000000000000, "0"), (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"), (0x7FEFFFFFFFFFFFFF, "1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"), (0x4430000000000000, "295147905179352830000"),
        (0x44B52D02C7E14AF5, "9.999999999999997e+22"), (0x44B52D02C7E14AF6, "1e+23"),
        (0x444B1AE4D6E2EF50, "1e+21"), (0x444B1AE4D6E2EF4F, "999999999999999900000"),
        (0x3EB0C6F7A0B5ED8C, "9.999999999999997e-7"), (0x3EB0C6F7A0B5ED8D, "0.000001"),
        (0x41B3DE4355555554, "333333333.33333325"), (0xBECBF647612F3696, "-0.0000033333333333333333"),
        (0x43143FF3C1CB0959, "1424953923781206.2"),
    ],
)
def test_doubles_print_as_ecmascript_prints_them(bits, text):
    assert es_number(struct.unpack(">d", bits.to_bytes(8, "big"))[0]) == text


def test_known_digests():
    assert sha256_hex({}) == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    assert sha256_hex(None) == "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b"


def test_what_is_not_json_is_refused():
    for bad in (float("nan"), float("inf"), {1: "x"}, object(), "\ud800"):
        with pytest.raises((TypeError, ValueError)):
            canonical_json(bad)


# Drafts as JSON *text*, sent verbatim so the server parses exactly these spellings.
DRAFTS = [
    '"Hello, the copy is attached."',
    "false",
    "[]",
    '{"b": [1, {"z": true, "a": null}], "a": {"y": "", "x": []}}',
    r'{"\u20ac": "Euro", "\r": "CR", "\ufb33": "Dalet", "1": "One", "\ud83d\ude00": "Grin", "\u0080": "Ctl", "\u00f6": "o"}',
    r'"\b\t\n\f\r\u0001\u001f\u007f\"\\/<>&é\u2028😀"',
    "[333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001, -0.0, 1.0, 100]",
    "[1e21, 1e20, 1E-7, 1.5e-7, 0.000001, 123456789012345680000, 5e-324, 1.7976931348623157e308]",
    "[9007199254740993, -9223372036854775808, 18446744073709551615, 0.1, 0.30000000000000004]",
    '{"amount": 1250.50, "currency": "EUR", "lines": [{"sku": "A-1", "qty": 3, "price": 19.99}]}',
    '{"deep": {"deeper": {"deepest": [[[{"k": "v"}]]]}}, "": "empty key", "A": 1, "a": 2}',
]


@pytest.mark.parametrize("draft_text", DRAFTS)
def test_the_digest_equals_the_servers_draft_sha256(server, agent, draft_text):
    body = (
        '{"task": "respond_to_client_inquiry", "summary": "digest fixture", "confidence": 0.95, '
        f'"draft": {draft_text}}}'
    )
    resp = httpx.post(
        server.base_url + "/v1/handoffs",
        content=body.encode("utf-8"),
        headers={"Authorization": f"Bearer {agent._key}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 201, resp.text
    served = resp.json()["draft_versions"][0]["sha256"]
    assert sha256_hex(json.loads(draft_text)) == served
    # And the draft as the server hands it back digests the same.
    assert sha256_hex(resp.json()["packet"]["draft"]) == served
