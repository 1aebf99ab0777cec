"""A real Mosquitto broker for the delivery tests, started by the tests on a free loopback port.

Each broker gets its own directory with a generated configuration, a persistence file, and
optionally a TLS listener (certificates made here with `cryptography`), an ACL file and a
password file. `kill()` sends SIGKILL, like a crash; `start()` again reuses the same ports and
persistence, like a restart.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.02)
    return False


# --- certificates -------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """Files of a small test PKI: a CA, a server and a client certificate, and a foreign CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer if issuer else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(folder: Path, server_names: tuple[str, ...] = ("localhost",)) -> Pki:
    """Write a CA, a server certificate valid for `server_names` (DNS names or IP addresses),
    a client certificate, and an unrelated CA into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _cert("roadside test CA", ca_key, None, ca=True)
    sans: list[x509.GeneralName] = []
    for n in server_names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv_cert = _cert(server_names[0], srv_key, (ca_cert.subject, ca_key), sans=sans)
    cli_key = ec.generate_private_key(ec.SECP256R1())
    cli_cert = _cert("unit-1", cli_key, (ca_cert.subject, ca_key))
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = _cert("some other CA", other_key, None, ca=True)
    pki = Pki(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
        other_ca=folder / "other-ca.pem",
    )
    pki.ca.write_bytes(ca_cert.public_bytes(pem))
    pki.server_cert.write_bytes(srv_cert.public_bytes(pem))
    _write_key(srv_key, pki.server_key)
    pki.client_cert.write_bytes(cli_cert.public_bytes(pem))
    _write_key(cli_key, pki.client_key)
    pki.other_ca.write_bytes(other_ca.public_bytes(pem))
    return pki


# --- the broker ---------------------------------------------------------------------------


@dataclass
class Broker:
    """One Mosquitto process with its own configuration and persistence directory."""

    folder: Path
    port: int = field(default_factory=free_port)
    tls_port: int | None = None
    pki: Pki | None = None
    acl: str | None = None
    users: dict[str, str] | None = None
    autosave_interval_s: int = 600
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        """Plain MQTT URL of the broker."""
        return f"mqtt://127.0.0.1:{self.port}"

    def tls_url(self, host: str = "127.0.0.1") -> str:
        """MQTT over TLS URL of the broker (needs `pki`)."""
        assert self.tls_port is not None
        return f"mqtts://{host}:{self.tls_port}"

    def _write_config(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        lines = [
            "user root",
            "persistence true",
            f"persistence_location {self.folder}/",
            "persistence_file mosquitto.db",
            f"autosave_interval {self.autosave_interval_s}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "max_queued_messages 100000",
            "max_inflight_messages 0",
            "allow_anonymous true",
            f"listener {self.port} 127.0.0.1",
        ]
        if self.acl is not None:
            acl = self.folder / "acl"
            acl.write_text(self.acl)
            lines.insert(0, f"acl_file {acl}")
        if self.users:
            pw = self.folder / "passwd"
            pw.write_text("")
            for user, password in self.users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(pw), user, password],
                    check=True,
                    capture_output=True,
                )
            lines.insert(0, f"password_file {pw}")
        if self.pki is not None:
            if self.tls_port is None:
                self.tls_port = free_port()
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {self.pki.ca}",
                f"certfile {self.pki.server_cert}",
                f"keyfile {self.pki.server_key}",
                "require_certificate true",
            ]
        conf = self.folder / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> None:
        """Start (or restart) the broker and wait until it accepts connections."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        conf = self._write_config()
        log = (self.folder / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.starts += 1
        ports = [self.port] + ([self.tls_port] if self.tls_port else [])
        for port in ports:
            if not _wait_port(port, 10.0):
                self.kill()
                raise RuntimeError(f"mosquitto did not listen on {port}: {self.log_text()}")

    def kill(self) -> None:
        """SIGKILL the broker (a crash: nothing saved since the last autosave)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """Terminate the broker cleanly (it saves its persistence file)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        """What the broker logged so far."""
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def running_broker(folder: Path, **kwargs: object) -> Iterator[Broker]:
    """A started broker, stopped at the end."""
    broker = Broker(folder, **kwargs)  # type: ignore[arg-type]
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A plain-MQTT Mosquitto on a free loopback port, with persistence."""
    with running_broker(tmp_path / "broker") as b:
        yield b


# --- the back office: a subscriber that stores what it gets and acks it ----------------------


def jws_payload(jws: bytes) -> dict[str, object]:
    """The JSON payload of a compact JWS (not verified: the records tests do that)."""
    import base64
    import json

    part = jws.split(b".")[1]
    data: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4)))
    return data


class BackOffice:
    """A receiver: persistent session, QoS 1 subscription to `{p}/#` (re-made on every connect,
    since a crashed broker may have lost it), every message kept; with `ack`, the ids of records
    it has stored are published on `{p}/ack` in small batches."""

    def __init__(
        self, url: str, base: str, *, ack: bool, client_id: str = "back-office", v5: bool = True
    ) -> None:
        import threading
        from collections import defaultdict
        from urllib.parse import urlsplit

        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.base = base
        self.ack = ack
        self.lock = threading.Lock()
        self.records: dict[str, list[bytes]] = defaultdict(list)
        self.messages: list[mqtt.MQTTMessage] = []  # everything, in arrival order
        self.order: list[str] = []  # topics in arrival order
        self._to_ack: list[str] = []
        self._stop = threading.Event()
        parts = urlsplit(url)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        self.client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        props = None
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            self.client.connect_async(
                parts.hostname, parts.port, clean_start=False, properties=props
            )
        else:
            self.client.connect_async(parts.hostname, parts.port)
        self.client.loop_start()
        self._acker = threading.Thread(target=self._ack_loop, daemon=True)
        self._acker.start()

    def _on_connect(self, client, _u, _flags, rc, _p) -> None:  # type: ignore[no-untyped-def]
        if not rc.is_failure:
            client.subscribe(f"{self.base}/#", qos=1)

    def _on_message(self, _c, _u, msg) -> None:  # type: ignore[no-untyped-def]
        sub = msg.topic[len(self.base) + 1 :]
        with self.lock:
            self.messages.append(msg)
            self.order.append(sub)
            if sub in ("vehicle", "violation", "road") or sub.startswith("calibration"):
                rid = str(jws_payload(msg.payload)["id"])
                self.records[rid].append(bytes(msg.payload))
                if self.ack:
                    self._to_ack.append(rid)

    def _ack_loop(self) -> None:
        import json

        while not self._stop.wait(0.02):
            with self.lock:
                ids, self._to_ack = self._to_ack, []
            for i in range(0, len(ids), 500):
                self.client.publish(f"{self.base}/ack", json.dumps(ids[i : i + 500]), qos=1)

    def count(self) -> int:
        """Distinct record ids received."""
        with self.lock:
            return len(self.records)

    def wait_for(self, n: int, timeout_s: float) -> bool:
        """Wait until `n` distinct records arrived."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.count() >= n:
                return True
            time.sleep(0.02)
        return self.count() >= n

    def close(self) -> None:
        """Stop acking and disconnect."""
        self._stop.set()
        self._acker.join(2)
        self.client.disconnect()
        self.client.loop_stop()

    def check_stream(self, total: int) -> None:
        """Assert what a receiver relies on: every seq 1..total present once by id,
        duplicates byte-identical, and each prev the hash of the record before."""
        from edge.records.jws import jws_hash

        with self.lock:
            records = {rid: list(copies) for rid, copies in self.records.items()}
        for rid, copies in records.items():
            assert all(c == copies[0] for c in copies), f"duplicate of {rid} differs"
        by_seq: dict[int, bytes] = {}
        for copies in records.values():
            seq = jws_payload(copies[0])["seq"]
            assert isinstance(seq, int)
            assert seq not in by_seq, f"seq {seq} used by two records"
            by_seq[seq] = copies[0]
        missing = sorted(set(range(1, total + 1)) - set(by_seq))
        assert not missing, f"{len(missing)} records lost, e.g. seq {missing[:10]}"
        assert sorted(by_seq) == list(range(1, total + 1))
        for seq in range(2, total + 1):
            prev = jws_payload(by_seq[seq])["prev"]
            assert prev == jws_hash(by_seq[seq - 1].decode()), f"chain broken at seq {seq}"
