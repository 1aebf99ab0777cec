"""The unit's Ed25519 signing key(s) and their public JWKS.

The private key is a PKCS#8 PEM file readable by its owner only; like ssh, the unit refuses a
key that group or others may read, because a copied key could forge evidence. The key id
(`kid`) is the RFC 7638 thumbprint of the public JWK, so any receiver can recompute it. After a
rotation the JWKS keeps the old public keys, and each record's `kid` says which key signed it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.config.site import RecordsConfig
from edge.errors import SigningKeyError
from edge.fsutil import fsync_dir

log = logging.getLogger(__name__)

KEY_FILE_NAME = "signing-key.pem"
CREDENTIAL_NAME = "signing-key"
JWKS_FILE_NAME = "keys.jwks"


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of b64url; raises ValueError on characters outside the url-safe alphabet."""
    if not text.isascii() or any(c in "+/=" for c in text):
        raise ValueError("not base64url without padding")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def thumbprint(x: str) -> str:
    """RFC 7638 thumbprint of an Ed25519 public JWK with coordinate `x` (RFC 8037 section 2)."""
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True
    )
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class SigningKey:
    """An Ed25519 private key and its kid (RFC 7638 thumbprint of its public JWK)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_key = private.public_key()
        self._x = b64url(_raw_public(self.public_key))
        self.kid = thumbprint(self._x)

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        """Read a PEM key; SigningKeyError if missing, unsafe (group/other bits) or not Ed25519."""
        try:
            st = path.stat()
        except FileNotFoundError:
            raise SigningKeyError(
                f"{path}: signing key not found (create one: edge keygen)"
            ) from None
        except OSError as exc:
            raise SigningKeyError(f"{path}: cannot read signing key: {exc.strerror}") from None
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise SigningKeyError(
                f"{path}: permissions {mode:04o} are too open; the signing key must not be "
                f"accessible by group or others (chmod 600 {path})"
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"{path}: cannot read signing key: {exc.strerror}") from None
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise SigningKeyError(f"{path}: not an unencrypted PEM private key ({exc})") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise SigningKeyError(f"{path}: not an Ed25519 key ({type(private).__name__})")
        return cls(private)

    def save(self, path: Path) -> None:
        """Write the PEM file with mode 0600, refusing to overwrite; fsynced."""
        pem = self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL + mode at creation: the key is never readable by others, not even briefly.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise SigningKeyError(
                f"{path}: already exists; not overwriting a signing key"
            ) from None
        try:
            os.fchmod(fd, 0o600)  # a umask cannot widen it, but be explicit
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(path.parent)

    def sign(self, data: bytes) -> bytes:
        """Ed25519 signature of `data` (64 bytes)."""
        return self._private.sign(data)

    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK (RFC 8037) with kid, alg and use."""
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self._x,
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM (for openssl pkeyutl)."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def key_path(records: RecordsConfig, environ: Mapping[str, str] | None = None) -> Path:
    """Where the signing key is read from: key_file, else the systemd credential, else data_dir."""
    if records.key_file is not None:
        return records.key_file
    env = os.environ if environ is None else environ
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        cred = Path(cred_dir) / CREDENTIAL_NAME
        if cred.exists():
            return cred
    return records.data_dir / "keys" / KEY_FILE_NAME


def load_signing_key(
    records: RecordsConfig, environ: Mapping[str, str] | None = None
) -> SigningKey:
    """Load the unit's key: key_file, else $CREDENTIALS_DIRECTORY/signing-key, else
    <data_dir>/keys/signing-key.pem. Read when called, never cached at import."""
    path = key_path(records, environ)
    key = SigningKey.load(path)
    log.info("signing key loaded path=%s kid=%s", path, key.kid)
    return key


def jwks(keys: Iterable[dict[str, str]]) -> dict[str, Any]:
    """A JWK Set: {"keys": [...]}, one entry per kid (first wins)."""
    seen: dict[str, dict[str, str]] = {}
    for jwk in keys:
        seen.setdefault(jwk.get("kid") or thumbprint(jwk["x"]), dict(jwk))
    return {"keys": list(seen.values())}


def read_jwks(path: Path) -> dict[str, Any]:
    """Read a JWKS file; SigningKeyError naming the file when it is missing or malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SigningKeyError(f"{path}: key set not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SigningKeyError(f"{path}: cannot read key set: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise SigningKeyError(f'{path}: not a JWKS (expected {{"keys": [...]}})')
    return data


def public_keys(jwk_set: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 keys of a JWKS by kid (the kid is recomputed; a JWK's own kid must match)."""
    out: dict[str, Ed25519PublicKey] = {}
    for i, jwk in enumerate(jwk_set.get("keys", [])):
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue  # other key types may share the set; they cannot verify our records
        try:
            raw = b64url_decode(str(jwk["x"]))
            key = Ed25519PublicKey.from_public_bytes(raw)
        except (KeyError, ValueError) as exc:
            raise SigningKeyError(f"keys[{i}]: invalid Ed25519 JWK: {exc}") from None
        kid = thumbprint(str(jwk["x"]))
        if "kid" in jwk and jwk["kid"] != kid:
            raise SigningKeyError(
                f"keys[{i}]: kid {jwk['kid']!r} is not the RFC 7638 thumbprint ({kid})"
            )
        out[kid] = key
    return out


def write_jwks(path: Path, jwk_set: Mapping[str, Any]) -> None:
    """Write a JWKS atomically (temp file, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(jwk_set, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


def unit_jwks(key: SigningKey, jwks_file: Path | None) -> dict[str, Any]:
    """The JWKS the unit publishes: the current key first, then older keys kept in
    `jwks_file` (if it exists) so records signed before a rotation still verify."""
    older: list[dict[str, str]] = []
    if jwks_file is not None and jwks_file.exists():
        older = [k for k in read_jwks(jwks_file)["keys"] if isinstance(k, dict)]
    return jwks([key.public_jwk(), *older])
