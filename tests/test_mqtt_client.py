"""Connecting to a real Mosquitto: TLS with CA and client certificate, passwords, and the
one-line reasons a technician reads when it does not work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.config.site import MqttConfig, OutboxConfig
from edge.delivery.client import check_broker, read_password
from edge.delivery.publisher import Publisher
from edge.delivery.topics import Topics
from edge.errors import ConfigError, DeliveryError
from edge.outbox.store import Outbox
from edge.records.keys import SigningKey, jwks
from tests.mosquitto import Broker, make_pki, running_broker
from tests.unit_standin import DEVICE, SITE, append_records


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """TLS listener (client certificate required) for a server certificate valid only for
    'localhost', plus a plain listener with a password file."""
    folder = tmp_path_factory.mktemp("tls")
    pki = make_pki(folder / "pki", ("localhost",))
    with running_broker(folder / "broker", pki=pki, users={"unit-1": "s3cret"}) as b:
        yield b


def tls_cfg(b: Broker, host: str = "localhost", **tls: object) -> MqttConfig:
    pki = b.pki
    assert pki is not None
    settings: dict[str, object] = {
        "ca_file": pki.ca,
        "cert_file": pki.client_cert,
        "key_file": pki.client_key,
    }
    settings.update(tls)
    return MqttConfig(url=b.tls_url(host), tls=settings)  # type: ignore[arg-type]


def test_tls_with_ca_and_client_certificate_connects(tls_broker: Broker) -> None:
    assert "connected to mqtts://localhost" in check_broker(tls_cfg(tls_broker), 5)


def test_wrong_ca_is_refused_with_a_clear_reason(tls_broker: Broker) -> None:
    assert tls_broker.pki is not None
    with pytest.raises(DeliveryError, match=r"^TLS: certificate verify failed: .*certificate"):
        check_broker(tls_cfg(tls_broker, ca_file=tls_broker.pki.other_ca), 5)


def test_wrong_hostname_is_refused_naming_the_host(tls_broker: Broker) -> None:
    with pytest.raises(
        DeliveryError, match=r"^TLS: certificate verify failed: hostname mismatch for 127\.0\.0\.1"
    ):
        check_broker(tls_cfg(tls_broker, host="127.0.0.1"), 5)


def test_insecure_skip_hostname_accepts_the_wrong_name(tls_broker: Broker) -> None:
    cfg = tls_cfg(tls_broker, host="127.0.0.1", insecure_skip_hostname=True)
    assert "connected" in check_broker(cfg, 5)


def test_missing_client_certificate_is_refused_with_a_clear_reason(tls_broker: Broker) -> None:
    cfg = tls_cfg(tls_broker, cert_file=None, key_file=None)
    with pytest.raises(DeliveryError, match=r"^TLS: .*client certificate"):
        check_broker(cfg, 5)


def test_unreadable_certificate_file_is_a_config_error(tls_broker: Broker, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mqtt.tls.ca_file: cannot read .*missing.pem"):
        check_broker(tls_cfg(tls_broker, ca_file=tmp_path / "missing.pem"), 5)


def test_publisher_reports_the_tls_reason_and_keeps_records(
    tls_broker: Broker, tmp_path: Path
) -> None:
    key = SigningKey.generate()
    box = Outbox(tmp_path / "o.db", OutboxConfig(min_free_bytes=0, ballast_bytes=0))
    append_records(box, key, 3, "violation")
    cfg = tls_cfg(tls_broker, host="127.0.0.1").model_copy(update={"reconnect_min_s": 0.1})
    pub = Publisher(cfg, box, SITE, DEVICE, jwks([key.public_jwk()]), {"kid": key.kid})
    pub.start()
    try:
        assert pub.drain(1.0) == 3
        err = pub.status().last_error
    finally:
        pub.stop()
        box.close()
    assert err is not None and "hostname mismatch for 127.0.0.1" in err


def test_password_from_file_and_from_credentials_directory(
    tls_broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    ok = MqttConfig(url=tls_broker.url, username="unit-1", password_file=tmp_path / "pw")
    assert "connected" in check_broker(ok, 5)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt-password").write_text("wrong")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    bad = MqttConfig(url=tls_broker.url, username="unit-1", password_file=Path("mqtt-password"))
    assert read_password(bad) == "wrong"
    with pytest.raises(DeliveryError, match=r"refused the connection: Not authorized \(0x87\)"):
        check_broker(bad, 5)


def test_missing_password_file_names_it(tmp_path: Path) -> None:
    cfg = MqttConfig(url="mqtt://127.0.0.1:1", username="u", password_file=tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"mqtt.password_file: cannot read .*nope"):
        read_password(cfg)


def test_no_broker_listening_says_so() -> None:
    with pytest.raises(DeliveryError, match=r"connection refused by mqtt://127.0.0.1:1"):
        check_broker(MqttConfig(url="mqtt://127.0.0.1:1"), 2)


def test_topics_follow_the_contract() -> None:
    t = Topics("roadside", "s1", "d1")
    assert t.record("violation") == "roadside/s1/d1/violation"
    assert t.record("calibration") == "roadside/s1/d1/calibration"
    assert t.evidence("0190-ab", "plate.jpg") == "roadside/s1/d1/evidence/0190-ab/plate.jpg"
    assert (t.status, t.health, t.keys, t.ack) == tuple(
        f"roadside/s1/d1/{x}" for x in ("status", "health", "keys", "ack")
    )
    with pytest.raises(ValueError, match="topic level"):
        t.record("a/b")
