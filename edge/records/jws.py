"""JWS compact serialization (RFC 7515) of records, signed with Ed25519 (RFC 8037, alg EdDSA).

Sans-IO: bytes in, strings out. The protected header is fixed per key, so it is encoded once.
Verification pins the algorithm (EdDSA, or Ed25519 from RFC 9864) and looks the key up by kid;
it never trusts a key or an algorithm named by the token itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.records.keys import SigningKey, b64url, b64url_decode

TYP = "roadside-record+json"
ACCEPTED_ALGS = frozenset({"EdDSA", "Ed25519"})


class JwsError(ValueError):
    """A token that is malformed, signed by an unknown key or whose signature fails.

    `kind` is a short stable word for reports: malformed, bad_header, unknown_key, bad_signature.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class DecodedJws:
    """The parts of a compact JWS, decoded but not yet verified."""

    header: dict[str, Any]
    payload: bytes
    signature: bytes
    signing_input: bytes


def encode_json(obj: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON as signed (no NaN/Infinity: they are not JSON)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def protected_header(kid: str) -> str:
    """The base64url protected header for records signed with key `kid`."""
    return b64url(encode_json({"alg": "EdDSA", "kid": kid, "typ": TYP}))


def sign_compact(payload: bytes, key: SigningKey, header_b64: str | None = None) -> str:
    """`header.payload.signature`; pass a cached `protected_header(key.kid)` to save work."""
    head = header_b64 if header_b64 is not None else protected_header(key.kid)
    signing_input = f"{head}.{b64url(payload)}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode('ascii')))}"


def jws_hash(jws: str) -> str:
    """base64url SHA-256 of the ASCII bytes of a compact JWS: the next record's `prev`."""
    return b64url(hashlib.sha256(jws.encode("ascii")).digest())


def decode_compact(jws: str) -> DecodedJws:
    """Split and decode a compact JWS; JwsError('malformed' / 'bad_header') when it is not one."""
    parts = jws.split(".")
    if len(parts) != 3 or not jws.isascii():
        raise JwsError("malformed", "not a compact JWS (expected header.payload.signature)")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = b64url_decode(parts[1])
        signature = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise JwsError("malformed", f"undecodable JWS part: {exc}") from None
    if not isinstance(header, dict):
        raise JwsError("bad_header", "protected header is not a JSON object")
    return DecodedJws(header, payload, signature, f"{parts[0]}.{parts[1]}".encode("ascii"))


def verify_compact(jws: str, keys: Mapping[str, Ed25519PublicKey]) -> DecodedJws:
    """Decode and verify; the key is chosen by kid from `keys`, the algorithm is pinned."""
    decoded = decode_compact(jws)
    alg = decoded.header.get("alg")
    if alg not in ACCEPTED_ALGS:
        raise JwsError("bad_header", f"algorithm {alg!r} is not EdDSA")
    if "crit" in decoded.header:
        raise JwsError("bad_header", "unsupported critical header parameters")
    kid = decoded.header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise JwsError("unknown_key", f"signed by key {kid!r}, which is not in the key set")
    try:
        key.verify(decoded.signature, decoded.signing_input)
    except InvalidSignature:
        raise JwsError("bad_signature", "signature does not verify") from None
    return decoded
