"""The signing key: created private (0600), refused when others can read it, found where systemd
puts credentials, identified by its RFC 7638 thumbprint, rotated without orphaning old records."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from edge.config.site import RecordsConfig
from edge.errors import SigningKeyError
from edge.records.keys import SigningKey, load_signing_key, public_keys, read_jwks
from tests.test_verify import main


def test_kid_is_the_rfc7638_thumbprint_joserfc_computes() -> None:
    from joserfc.jwk import OKPKey

    key = SigningKey.generate()
    jwk = key.public_jwk()
    assert jwk["kid"] == key.kid
    assert OKPKey.import_key(jwk).thumbprint() == key.kid
    assert public_keys({"keys": [jwk]}).keys() == {key.kid}


def test_saved_key_is_private_and_loads_back(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = tmp_path / "keys" / "signing-key.pem"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SigningKey.load(path).kid == key.kid
    with pytest.raises(SigningKeyError, match="already exists"):
        SigningKey.generate().save(path)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "signing-key.pem"
    SigningKey.generate().save(path)
    path.chmod(mode)
    with pytest.raises(SigningKeyError, match=f"permissions {mode:04o} are too open"):
        SigningKey.load(path)


def test_missing_or_wrong_key_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match=r"nope\.pem: signing key not found"):
        SigningKey.load(tmp_path / "nope.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    junk.chmod(0o600)
    with pytest.raises(SigningKeyError, match=r"junk\.pem: not an unencrypted PEM"):
        SigningKey.load(junk)


def test_key_location_order(tmp_path: Path) -> None:
    data_key, cred_key, explicit = (SigningKey.generate() for _ in range(3))
    data_dir = tmp_path / "state"
    data_key.save(data_dir / "keys" / "signing-key.pem")
    creds = tmp_path / "creds"
    cred_key.save(creds / "signing-key")
    explicit.save(tmp_path / "mine.pem")
    cfg = RecordsConfig(data_dir=data_dir)
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    assert load_signing_key(cfg, {}).kid == data_key.kid
    assert load_signing_key(cfg, env).kid == cred_key.kid
    with_file = RecordsConfig(data_dir=data_dir, key_file=tmp_path / "mine.pem")
    assert load_signing_key(with_file, env).kid == explicit.kid
    empty_creds = {"CREDENTIALS_DIRECTORY": str(tmp_path / "empty")}
    assert load_signing_key(cfg, empty_creds).kid == data_key.kid


def test_keygen_then_rotate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "keys"
    assert main(["keygen", "--out", str(out), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    key_file = out / "signing-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert SigningKey.load(key_file).kid == first["kid"]
    assert [k["kid"] for k in read_jwks(out / "keys.jwks")["keys"]] == [first["kid"]]
    public = read_jwks(out / "keys.jwks")["keys"][0]
    assert "d" not in public, "no private part in the public set"

    assert main(["keygen", "--out", str(out)]) == 2
    assert "already exists (use --rotate" in capsys.readouterr().err

    assert main(["keygen", "--out", str(out), "--rotate", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["kid"] != first["kid"]
    kids = [k["kid"] for k in read_jwks(out / "keys.jwks")["keys"]]
    assert kids == [second["kid"], first["kid"]], "old key stays so old records verify"
    retired = out / f"signing-key.{first['kid']}.pem"
    assert stat.S_IMODE(retired.stat().st_mode) == 0o600
