"""Receipts checked by the SDK's own verifier and, independently, by joserfc."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from handoff import ReceiptError, sha256_hex, verify_receipt

DRAFT = {"to": "ceo@acme.example", "body": "Grüße — the invoice 😀", "amount": 1250.5, "lines": [1, 2.0, 1e21]}


@pytest.fixture
def approved(agent, ana):
    h = agent.submit(task="respond_to_client_inquiry", summary="Invoice copy", confidence=0.95, draft=DRAFT)
    return ana.approve(h.id)


# joserfc warns that "EdDSA" is deprecated in favour of RFC 9864's "Ed25519"; the server
# signs with "EdDSA" as SPEC §3 says.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


def _joserfc_payload(receipt: str, jwks: dict) -> dict:
    obj = jws.deserialize_compact(receipt, KeySet.import_key_set(jwks), algorithms=["EdDSA"])
    return json.loads(obj.payload)


def test_a_receipt_verifies_with_the_sdk_and_with_joserfc(agent, approved):
    jwks = agent.receipt_jwks()
    mine = agent.verify_receipt(approved.receipt, DRAFT, handoff_id=approved.id)
    theirs = _joserfc_payload(approved.receipt, jwks)
    assert mine == theirs
    assert mine["handoff"] == approved.id
    assert mine["approvers"] == ["ana"]
    assert mine["draft_sha256"] == sha256_hex(DRAFT) == approved["draft_versions"][-1]["sha256"]
    assert mine["exp"] > mine["iat"]


def test_the_key_set_is_public(server, approved):
    jwks = httpx.get(server.base_url + "/v1/receipt-key").json()
    assert jwks["keys"][0]["kty"] == "OKP" and jwks["keys"][0]["crv"] == "Ed25519"
    assert verify_receipt(approved.receipt, jwks)["handoff"] == approved.id


def test_another_draft_is_refused(agent, approved):
    with pytest.raises(ReceiptError, match="differs from the approved"):
        agent.verify_receipt(approved.receipt, {**DRAFT, "amount": 1250.51})
    # Key order and number spelling are not content: still the approved draft.
    reordered = json.loads(json.dumps(dict(reversed(list(DRAFT.items())))))
    agent.verify_receipt(approved.receipt, reordered)


def test_a_receipt_for_another_handoff_is_refused(agent, approved):
    with pytest.raises(ReceiptError, match="not 'hnd_other'"):
        agent.verify_receipt(approved.receipt, handoff_id="hnd_other")


def test_an_expired_receipt_is_refused(agent, approved):
    payload = agent.verify_receipt(approved.receipt)
    with pytest.raises(ReceiptError, match="expired"):
        verify_receipt(approved.receipt, agent.receipt_jwks(), now=payload["exp"])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_tampered_receipt_fails_both_verifiers(agent, approved):
    header, payload, sig = approved.receipt.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["approvers"] = ["ceo"]
    forged = ".".join([header, _b64(json.dumps(claims).encode()), sig])
    with pytest.raises(ReceiptError, match="bad signature"):
        agent.verify_receipt(forged)
    with pytest.raises(BadSignatureError):
        _joserfc_payload(forged, agent.receipt_jwks())


def test_alg_none_and_foreign_algorithms_are_refused(agent, approved):
    _, payload, _ = approved.receipt.split(".")
    for alg in ("none", "HS256"):
        forged = _b64(json.dumps({"alg": alg, "kid": "x"}).encode()) + "." + payload + "."
        with pytest.raises(ReceiptError, match="unsupported algorithm"):
            agent.verify_receipt(forged)


def _self_signed(typ: str) -> tuple:
    """A JWS with a key of our own, shaped like the server's receipts and checkpoints."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.generate()
    x = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": _b64(x), "kid": "hr_test"}]}
    header = _b64(json.dumps({"alg": "EdDSA", "kid": "hr_test", "typ": typ}).encode())
    claims = {"handoff": "hnd_x", "task": "t", "draft_sha256": None, "approvers": ["policy"],
              "iat": 1, "exp": 4102444800, "seq": 7, "hash": "00"}
    payload = _b64(json.dumps(claims).encode())
    sig = _b64(key.sign(f"{header}.{payload}".encode()))
    return f"{header}.{payload}.{sig}", jwks


def test_an_audit_checkpoint_signed_with_the_receipt_key_is_never_a_receipt():
    # SPEC §9: checkpoints are signed with the receipt key, header typ "handoff-checkpoint".
    receipt, jwks = _self_signed("JWT")
    assert verify_receipt(receipt, jwks)["handoff"] == "hnd_x"
    checkpoint, jwks = _self_signed("handoff-checkpoint")
    _joserfc_payload(checkpoint, jwks)  # a valid signature...
    with pytest.raises(ReceiptError, match="not a receipt"):
        verify_receipt(checkpoint, jwks)  # ...but never taken for an approval


def test_an_unknown_kid_is_refused(agent, approved):
    jwks = {"keys": [dict(agent.receipt_jwks()["keys"][0], kid="hr_other")]}
    with pytest.raises(ReceiptError, match="no key with kid"):
        verify_receipt(approved.receipt, jwks)


def test_the_receipt_under_rfc_9864s_ed25519_name_verifies_with_the_sdk_and_joserfc(agent, approved):
    # The server offers each receipt twice: `receipt` (alg EdDSA, SPEC §3's default) and
    # `receipt_ed25519` (alg Ed25519, RFC 9864), one payload, one key, one JWK Set.
    new = approved.receipt_ed25519
    assert new, approved
    header = json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "=="))
    assert header["alg"] == "Ed25519" and header["typ"] == "JWT"
    assert new.split(".")[1] == approved.receipt.split(".")[1]
    jwks = agent.receipt_jwks()
    assert "alg" not in jwks["keys"][0], "a key naming one alg would fail the other name"
    mine = agent.verify_receipt(new, DRAFT, handoff_id=approved.id)
    obj = jws.deserialize_compact(new, KeySet.import_key_set(jwks), algorithms=["Ed25519"])
    assert json.loads(obj.payload) == mine == agent.verify_receipt(approved.receipt)
    # Renaming the algorithm of a signed receipt is tampering: both verifiers refuse it.
    renamed_header = _b64(json.dumps({**header, "alg": "EdDSA"}).encode())
    renamed = ".".join([renamed_header] + new.split(".")[1:])
    with pytest.raises(ReceiptError, match="bad signature"):
        agent.verify_receipt(renamed)
    with pytest.raises(BadSignatureError):
        _joserfc_payload(renamed, jwks)
