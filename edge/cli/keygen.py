"""`edge keygen --out DIR [--rotate] [--json]`: create the unit's Ed25519 signing key.

Writes DIR/signing-key.pem (mode 0600, never overwritten) and DIR/keys.jwks (public). With
--rotate an existing key is renamed signing-key.<kid>.pem (kept, still 0600) and its public key
stays in keys.jwks, so records it signed keep verifying; new records carry the new kid.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge.errors import SigningKeyError
from edge.records.keys import JWKS_FILE_NAME, KEY_FILE_NAME, SigningKey, unit_jwks, write_jwks


def add_parser(sub: Any) -> None:
    """Register the sub-command."""
    p = sub.add_parser("keygen", help="create the unit's Ed25519 key and its public JWKS")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="key directory")
    p.add_argument(
        "--rotate", action="store_true", help="replace an existing key, keeping its public part"
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Create (or rotate) the key; print its kid and files."""
    out: Path = args.out
    key_file = out / KEY_FILE_NAME
    jwks_file = out / JWKS_FILE_NAME
    retired: Path | None = None
    if key_file.exists():
        if not args.rotate:
            raise SigningKeyError(f"{key_file}: already exists (use --rotate to replace it)")
        old = SigningKey.load(key_file)
        # The old public key must stay in the JWKS: records it signed are still evidence.
        write_jwks(jwks_file, unit_jwks(old, jwks_file))
        retired = out / f"signing-key.{old.kid}.pem"
        key_file.replace(retired)
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)
    key = SigningKey.generate()
    key.save(key_file)
    key_set = unit_jwks(key, jwks_file)
    write_jwks(jwks_file, key_set)
    summary = {
        "kid": key.kid,
        "key_file": str(key_file),
        "jwks_file": str(jwks_file),
        "keys_in_jwks": len(key_set["keys"]),
        "retired": None if retired is None else str(retired),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{key_file}: new Ed25519 key kid {key.kid}; public key set {jwks_file}"
            f" ({len(key_set['keys'])} key(s))"
        )
    return 0
