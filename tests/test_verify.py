"""`edge verify` on a replay-style folder: clean records pass; each kind of tampering is named
with its line and seq, and the exit status is 1."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

import pytest

from edge.cli import keygen as keygen_cmd
from edge.cli import verify as verify_cmd
from edge.config.site import OutboxConfig
from edge.errors import EdgeError
from edge.outbox.store import Outbox
from edge.records.builder import write_evidence
from edge.records.jws import encode_json, sign_compact
from edge.records.keys import SigningKey, jwks, write_jwks
from tests.test_records_builder import T0, make_writer, payload, vehicle_body, violation_body

N = 8


def main(argv: list[str]) -> int:
    """`edge` with only this issue's sub-commands (and the same EdgeError handling as
    edge.cli.main), so these tests do not depend on every other command importing."""
    parser = argparse.ArgumentParser(prog="edge")
    sub = parser.add_subparsers(dest="command", required=True)
    verify_cmd.add_parser(sub)
    keygen_cmd.add_parser(sub)
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except EdgeError as exc:
        print(f"edge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return code


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder as `edge replay` writes it: records.jws, keys.jwks, evidence/<id>/<name>."""
    out = tmp_path / "out"
    out.mkdir()
    key = SigningKey.generate()
    box = Outbox(tmp_path / "outbox.sqlite", OutboxConfig(ballast_bytes=0))
    writer = make_writer(box, key)
    lines = []
    for i in range(N):
        if i == 3:
            rid = writer.new_id()
            ev = write_evidence(
                out / "evidence" / rid, "overview.jpg", b"\xff\xd8 jpg", "image/jpeg"
            )
            rec = writer.write("violation", violation_body(), T0 + i, evidence=[ev], record_id=rid)
        else:
            rec = writer.write("vehicle", vehicle_body(), T0 + i)
        lines.append(rec.jws)
    box.close()
    (out / "records.jws").write_text("\n".join(lines) + "\n", encoding="ascii")
    write_jwks(out / "keys.jwks", jwks([key.public_jwk()]))
    return out


def lines_of(folder: Path) -> list[str]:
    return (folder / "records.jws").read_text().splitlines()


def write_lines(folder: Path, lines: list[str]) -> None:
    (folder / "records.jws").write_text("\n".join(lines) + "\n")


def verify(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["verify", str(folder), *extra])
    return code, capsys.readouterr().out


def test_clean_folder_passes(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = verify(folder, capsys)
    assert code == 0, out
    assert "OK: 8 records (seq 1..8)" in out
    assert "evidence checked 1" in out
    code, out = verify(folder, capsys, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    assert (report["first_seq"], report["last_seq"], report["evidence_checked"]) == (1, 8, 1)


def test_changed_payload_byte_is_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = lines_of(folder)
    head, _, sig = lines[4].split(".")
    record = payload(lines[4])
    record["gross_kg"] = 3_000  # a lighter truck: the kind of edit a forger wants
    forged = base64.urlsafe_b64encode(encode_json(record)).rstrip(b"=").decode()
    lines[4] = f"{head}.{forged}.{sig}"
    write_lines(folder, lines)
    code, out = verify(folder, capsys)
    assert code == 1
    assert "records.jws:5: seq 5: bad_signature" in out
    assert "records.jws:6: seq 6: broken_chain" in out


def test_deleted_record_is_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = lines_of(folder)
    del lines[2]
    write_lines(folder, lines)
    code, out = verify(folder, capsys)
    assert code == 1
    assert "seq 4: seq_gap: seq 3 missing" in out
    assert "bad_signature" not in out


def test_deleted_first_record_is_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_lines(folder, lines_of(folder)[1:])
    code, out = verify(folder, capsys)
    assert code == 1 and "bad_start" in out and "seq 1..1 missing" in out
    assert verify(folder, capsys, "--partial")[0] == 0


def test_swapped_records_are_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = lines_of(folder)
    lines[5], lines[6] = lines[6], lines[5]
    write_lines(folder, lines)
    code, out = verify(folder, capsys, "--json")
    assert code == 1
    faults = json.loads(out)["faults"]
    assert [(f["fault"], f["line"], f["seq"]) for f in faults] == [("out_of_order", 7, 6)]
    assert "comes after seq 7 (line 6)" in faults[0]["message"]


def test_unknown_key_is_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = lines_of(folder)
    rogue = SigningKey.generate()
    record = payload(lines[7])
    lines[7] = sign_compact(encode_json(record), rogue)  # same content, another key
    write_lines(folder, lines)
    code, out = verify(folder, capsys)
    assert code == 1
    assert f"records.jws:8: seq 8: unknown_key: signed by key {rogue.kid!r}" in out


def test_rotated_keys_both_verify(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = lines_of(folder)
    old = json.loads((folder / "keys.jwks").read_text())["keys"]
    new = SigningKey.generate()
    record = payload(lines[7])
    lines[7] = sign_compact(encode_json(record), new)  # the last record after a rotation
    lines[7:] = [lines[7]]
    write_lines(folder, lines)
    write_jwks(folder / "keys.jwks", jwks([new.public_jwk(), *old]))
    code, out = verify(folder, capsys, "--json")
    assert code == 0, out
    assert len(json.loads(out)["kids"]) == 2


def test_duplicates_identical_pass_conflicting_fail(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = lines_of(folder)
    write_lines(folder, [*lines, lines[2]])  # a re-delivered record, byte-identical
    code, out = verify(folder, capsys, "--json")
    assert code == 0 and json.loads(out)["duplicates"] == 1
    key_free = payload(lines[2])
    key_free["speed_kmh"] = 10.0
    write_lines(folder, [*lines, sign_compact(encode_json(key_free), SigningKey.generate())])
    code, out = verify(folder, capsys)
    assert code == 1 and "conflicting_duplicate" in out


def test_evidence_mismatch_is_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = next((folder / "evidence").glob("*/overview.jpg"))
    image.write_bytes(b"\xff\xd8 another image")
    code, out = verify(folder, capsys)
    assert code == 1
    assert "seq 4: evidence_mismatch" in out


def test_external_jwks_and_user_errors(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "elsewhere.jwks"
    (folder / "keys.jwks").rename(keys)
    assert main(["verify", str(folder / "records.jws"), "--jwks", str(keys)]) == 0
    assert main(["verify", str(folder)]) == 2
    assert "keys.jwks: key set not found" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "nothing")]) == 2
    assert "records file not found" in capsys.readouterr().err
