"""The paho-mqtt 2.x client as this unit uses it: MQTT 5 (or 3.1.1), TLS, persistent session.

Everything about building and connecting a paho client lives here; the publisher only publishes.
Connection failures are turned into one-line messages a technician can act on
("TLS: certificate verify failed: hostname mismatch for 127.0.0.1").
"""

from __future__ import annotations

import logging
import os
import ssl
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config.site import MqttConfig
from edge.errors import ConfigError, DeliveryError

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is and whether the link is TLS."""

    host: str
    port: int
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> BrokerAddress:
        """Parse `mqtt://host[:port]` or `mqtts://host[:port]`."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ConfigError(
                f"mqtt.url: expected mqtt://host[:port] or mqtts://host[:port], got {url!r}"
            )
        return cls(
            parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme], parts.scheme == "mqtts"
        )

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def read_password(cfg: MqttConfig) -> str | None:
    """The broker password from `password_file`: a path, or a bare name looked up in
    `$CREDENTIALS_DIRECTORY` (systemd credentials). Read when connecting, never stored in config."""
    if cfg.password_file is None:
        return None
    path = Path(cfg.password_file)
    if len(path.parts) == 1 and not path.exists():
        cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
        if cred_dir:
            path = Path(cred_dir) / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"mqtt.password_file: cannot read {path}: {exc.strerror}") from exc
    # A trailing newline is an editor's, not part of the password.
    return text.rstrip("\r\n")


def client_id_for(cfg: MqttConfig, site: str, device: str) -> str:
    """The MQTT client id: configured, or `<site>-<device>` (stable, so the session survives)."""
    return cfg.client_id or f"{site}-{device}"


def _tls_context(cfg: MqttConfig) -> ssl.SSLContext:
    tls = cfg.tls
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if tls is None:
        return ctx
    for name in ("ca_file", "cert_file", "key_file"):
        path = getattr(tls, name)
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"mqtt.tls.{name}: cannot read {path}: no such file")
    try:
        if tls.ca_file is not None:
            ctx.load_verify_locations(cafile=str(tls.ca_file))
        if tls.cert_file is not None and tls.key_file is not None:
            ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    except ssl.SSLError as exc:
        raise ConfigError(f"mqtt.tls: unusable certificate or key: {exc.reason or exc}") from exc
    except OSError as exc:
        raise ConfigError(f"mqtt.tls: cannot read {exc.filename}: {exc.strerror}") from exc
    if tls is not None and tls.insecure_skip_hostname:
        ctx.check_hostname = False
    return ctx


def make_client(
    cfg: MqttConfig,
    client_id: str,
    will: tuple[str, bytes] | None = None,
) -> mqtt.Client:
    """A configured (not yet connected) paho client: protocol, persistent session, TLS,
    credentials, in-flight window, reconnect backoff and the retained Last Will `will`."""
    address = BrokerAddress.from_url(cfg.url)
    v5 = cfg.protocol == "5"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        # MQTT 5 sets clean_start at connect; 3.1.1 needs a persistent session here.
        clean_session=None if v5 else False,
    )
    if address.tls or cfg.tls is not None:
        client.tls_set_context(_tls_context(cfg))
        if cfg.tls is not None and cfg.tls.insecure_skip_hostname:
            client.tls_insecure_set(True)
    if cfg.username is not None:
        client.username_pw_set(cfg.username, read_password(cfg))
    client.max_inflight_messages_set(cfg.max_inflight)
    # Our own window bounds what we hand to paho; paho must never refuse a publish.
    client.max_queued_messages_set(0)
    # paho's backoff works in float seconds despite the int annotation.
    client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)  # type: ignore[arg-type]
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    return client


def connect_properties(cfg: MqttConfig) -> Properties | None:
    """MQTT 5 CONNECT properties: the session expiry, so acks survive a restart of either side."""
    if cfg.protocol != "5":
        return None
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = cfg.session_expiry_s
    return props


def connect_async(client: mqtt.Client, cfg: MqttConfig) -> None:
    """Start connecting in the background (the network loop must be started too)."""
    address = BrokerAddress.from_url(cfg.url)
    if cfg.protocol == "5":
        client.connect_async(
            address.host,
            address.port,
            keepalive=cfg.keepalive_s,
            clean_start=False,
            properties=connect_properties(cfg),
        )
    else:
        client.connect_async(address.host, address.port, keepalive=cfg.keepalive_s)


def describe_error(exc: BaseException, address: BrokerAddress, *, client_cert: bool = True) -> str:
    """One line that says what is wrong with a connection attempt; `client_cert` says whether
    we offered a client certificate (a broker that requires one may just cut the handshake)."""
    if address.tls and (tls := _describe_tls(exc, address, client_cert)) is not None:
        return tls
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {address} (is the broker running?)"
    if isinstance(exc, TimeoutError):
        return f"no answer from {address} (timeout)"
    if isinstance(exc, OSError):
        return f"cannot connect to {address}: {exc.strerror or exc}"
    return f"cannot connect to {address}: {exc}"


def _describe_tls(exc: BaseException, address: BrokerAddress, client_cert: bool) -> str | None:
    if not client_cert and _cut_off(exc):
        return (
            f"TLS: the broker closed the connection during the handshake; no client "
            f"certificate is configured (mqtt.tls.cert_file/key_file) ({address})"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        if "hostname mismatch" in reason or "IP address mismatch" in reason:
            reason = f"hostname mismatch for {address.host}"
        return f"TLS: certificate verify failed: {reason} ({address})"
    if not isinstance(exc, ssl.SSLError):
        return None
    reason = (exc.reason or str(exc)).lower().replace("_", " ")
    if "certificate required" in reason:
        reason = "the broker requires a client certificate (mqtt.tls.cert_file/key_file)"
    elif "unknown ca" in reason or "bad certificate" in reason:
        reason = f"the broker rejected our client certificate ({reason})"
    return f"TLS: {reason} ({address})"


def _cut_off(exc: BaseException) -> bool:
    if isinstance(exc, ssl.SSLEOFError | ConnectionResetError | BrokenPipeError):
        return True
    return isinstance(exc, ssl.SSLError) and "eof" in str(exc).lower()


def has_client_cert(cfg: MqttConfig) -> bool:
    """Whether a client certificate is configured."""
    return cfg.tls is not None and cfg.tls.cert_file is not None


def describe_reason(rc: ReasonCode | int, address: BrokerAddress) -> str:
    """One line for a refused CONNECT (CONNACK reason code)."""
    name = rc.getName() if isinstance(rc, ReasonCode) else mqtt.connack_string(rc)
    value = rc.value if isinstance(rc, ReasonCode) else rc
    return f"broker {address} refused the connection: {name} (0x{value:02x})"


def check_broker(cfg: MqttConfig, timeout_s: float, client_id: str | None = None) -> str:
    """Connect once and report, for `edge doctor`: a one-line summary on success, or
    DeliveryError with a one-line reason (TLS, credentials, refused, timeout)."""
    address = BrokerAddress.from_url(cfg.url)
    client = make_client(cfg, client_id or f"doctor-{os.getpid()}")
    done = threading.Event()
    outcome: list[str] = []

    def on_connect(
        _c: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, rc: ReasonCode, _p: object
    ) -> None:
        if rc.is_failure:
            outcome.append("!" + describe_reason(rc, address))
        else:
            outcome.append(f"connected to {address} (MQTT {cfg.protocol})")
        done.set()

    errors: list[BaseException] = []
    client.on_connect = on_connect
    client.on_log = error_collector(errors, done)
    client.on_disconnect = lambda *_args: done.set()
    client.connect_timeout = timeout_s
    try:
        if cfg.protocol == "5":
            client.connect(address.host, address.port, keepalive=cfg.keepalive_s, clean_start=True)
        else:
            client.connect(address.host, address.port, keepalive=cfg.keepalive_s)
    except OSError as exc:
        raise DeliveryError(describe_error(exc, address, client_cert=has_client_cert(cfg))) from exc
    client.loop_start()
    try:
        done.wait(timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    if outcome:
        if outcome[0].startswith("!"):
            raise DeliveryError(outcome[0][1:])
        return outcome[0]
    if errors:
        # The first failure is the cause; later ones are its consequences.
        raise DeliveryError(describe_error(errors[0], address, client_cert=has_client_cert(cfg)))
    raise DeliveryError(f"no CONNACK from {address} in {timeout_s:g} s")


def error_collector(
    errors: list[BaseException], done: threading.Event | None = None
) -> Callable[[mqtt.Client, object, int, str], None]:
    """An on_log callback that keeps the exceptions paho logs and swallows (e.g. a TLS alert
    while reading), so that their reason reaches the user."""

    def on_log(_c: mqtt.Client, _u: object, level: int, _msg: str) -> None:
        exc = sys.exception()
        if level == mqtt.MQTT_LOG_ERR and exc is not None:
            errors.append(exc)
            if done is not None:
                done.set()

    return on_log
