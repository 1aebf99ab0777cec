"""Drain the durable outbox to the MQTT broker without losing a record.

One worker thread owns the outbox side: it takes undelivered records oldest first (violations
ahead of the rest, so a backlog never starves a new violation), hands them to paho within a
bounded window, and removes a record from the outbox only when its delivery is confirmed:

- by default, on a PUBACK with a success reason code for the record and each of its evidence
  images;
- with `end_to_end_ack`, only when the record's id arrives on `{p}/ack` from the back office,
  because a broker can acknowledge a message and then lose it in a crash.

paho's network thread only turns callbacks into events for the worker, so the outbox is
touched by one thread of ours. A publish that paho accepts while disconnected stays queued in
paho and is sent on reconnect; a PUBACK with a failure code (e.g. 0x87 not authorised) keeps the
record, raises a warning and the record is tried again after `ack_timeout_s`. Records sent but
not acknowledged end to end are sent again after `ack_timeout_s` and after every (re)connect.
Duplicates are byte-identical (the stored JWS); receivers deduplicate by id.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config.site import MqttConfig
from edge.delivery.client import (
    BrokerAddress,
    client_id_for,
    connect_async,
    describe_error,
    describe_reason,
    has_client_cert,
    make_client,
)
from edge.delivery.health import health_payload, status_payload
from edge.delivery.topics import Topics

if TYPE_CHECKING:
    from edge.outbox.store import Outbox, StoredRecord

log = logging.getLogger(__name__)

RECORD_CONTENT_TYPE = "application/jose"
#: Records handed to paho at once, as a multiple of `max_inflight` (messages on the wire): paho
#: always has the next message ready when a PUBACK frees a slot.
WINDOW_FACTOR = 2
#: With end-to-end ack, records published but not yet acknowledged by the back office, at most:
#: bounds what a dead back office makes us re-send after each timeout.
DEFAULT_MAX_UNACKED = 2048
#: Worker wake-up period when nothing happens (ack timeouts, health, drain bookkeeping).
TICK_S = 0.2
#: How often drain() looks at the outbox (its counters are in memory: cheap).
DRAIN_POLL_S = 0.1
MAX_WARNINGS = 20
#: The record types that go into the window before anything else.
PRIORITY_TYPES = ("violation",)


@dataclass(frozen=True)
class PublisherStatus:
    """A snapshot of the publisher, for health and the CLI."""

    connected: bool
    last_error: str | None
    warnings: tuple[str, ...]
    published: int
    delivered: int
    failed_codes: Mapping[int, int]
    in_flight: int = 0
    awaiting_ack: int = 0
    connects: int = 0


@dataclass
class _Flight:
    """A record handed to paho: the mids of its evidence images and of the record itself."""

    record_id: str
    sent_ns: int
    mids: set[int] = field(default_factory=set)
    failure: str | None = None
    acked: bool = False


class Publisher:
    """Delivers the outbox over MQTT; see the module docstring for the rules."""

    def __init__(  # noqa: PLR0917 (the signature the service and the CLI call)
        self,
        cfg: MqttConfig,
        outbox: Outbox,
        site: str,
        device: str,
        key_jwks: dict[str, Any],
        birth: Mapping[str, Any],
        now_ns: Callable[[], int] = time.time_ns,
        *,
        max_unacked: int = DEFAULT_MAX_UNACKED,
        health_extra: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self._cfg = cfg
        self._outbox = outbox
        self._topics = Topics(cfg.prefix, site, device)
        self._address = BrokerAddress.from_url(cfg.url)
        self._jwks = json.dumps(key_jwks, separators=(",", ":"), sort_keys=True).encode()
        self._birth = dict(birth)
        self._now_ns = now_ns
        self._v5 = cfg.protocol == "5"
        self._client_cert = has_client_cert(cfg)
        self._window = WINDOW_FACTOR * cfg.max_inflight
        self._max_unacked = max_unacked
        # The unit's own state (devices, disk, rates) merged into {p}/health by the service.
        self._health_extra = health_extra
        self._client = make_client(
            cfg,
            client_id_for(cfg, site, device),
            will=(self._topics.status, status_payload("offline")),
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_log = self._on_log
        if cfg.end_to_end_ack:
            self._client.message_callback_add(self._topics.ack, self._on_ack)
        # Filled by paho's thread, emptied by the worker.
        self._events: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        # Worker state.
        self._inflight: dict[str, _Flight] = {}
        self._mid_owner: dict[int, str] = {}
        self._awaiting: dict[str, int] = {}
        self._resend_before_ns = 0
        self._next_health = 0.0
        # Shared snapshot (under _lock).
        self._connected = False
        self._last_error: str | None = None
        self._warnings: deque[str] = deque(maxlen=MAX_WARNINGS)
        self._published = 0
        self._delivered = 0
        self._failed: Counter[int] = Counter()
        self._connects = 0

    # --- public API -----------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background and start draining; returns at once."""
        connect_async(self._client, self._cfg)
        self._client.loop_start()
        self._worker = threading.Thread(target=self._run, name="mqtt-drain", daemon=True)
        self._worker.start()

    def notify(self) -> None:
        """A record was appended to the outbox: wake the drain."""
        self._wake.set()

    def drain(self, timeout_s: float) -> int:
        """Block until the outbox has no undelivered record or `timeout_s` passed; returns how
        many remain (0: all delivered)."""
        deadline = time.monotonic() + timeout_s
        self.notify()
        while True:
            remaining = self._outbox.stats().pending
            left = deadline - time.monotonic()
            if remaining == 0 or left <= 0:
                return remaining
            time.sleep(min(left, DRAIN_POLL_S))

    def status(self) -> PublisherStatus:
        """Counters, connection state and the latest warnings."""
        with self._lock:
            return PublisherStatus(
                connected=self._connected,
                last_error=self._last_error,
                warnings=tuple(self._warnings),
                published=self._published,
                delivered=self._delivered,
                failed_codes=dict(self._failed),
                in_flight=len(self._inflight),
                awaiting_ack=len(self._awaiting),
                connects=self._connects,
            )

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop draining, publish the retained offline status, disconnect cleanly."""
        self._stopping.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout_s)
        if self._client.is_connected():
            info = self._client.publish(
                self._topics.status, status_payload("offline"), qos=1, retain=True
            )
            try:
                info.wait_for_publish(min(timeout_s, 2.0))
            except (RuntimeError, ValueError) as exc:
                log.warning("offline status not confirmed: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()

    # --- paho callbacks (network thread): only record events -------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        rc: ReasonCode,
        _props: object,
    ) -> None:
        if rc.is_failure:
            self._set_error(describe_reason(rc, self._address))
            return
        # Birth first, so a receiver sees "online" before the backlog.
        client.publish(
            self._topics.status, status_payload("online", self._birth), qos=1, retain=True
        )
        client.publish(self._topics.keys, self._jwks, qos=1, retain=True)
        if self._cfg.end_to_end_ack:
            client.subscribe(self._topics.ack, qos=1)
        log.info("connected to %s session_present=%s", self._address, flags.session_present)
        self._events.append(("connected",))
        self._wake.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        rc: ReasonCode,
        _props: object,
    ) -> None:
        with self._lock:
            self._connected = False
        if not self._stopping.is_set():
            log.warning("disconnected from %s: %s", self._address, rc.getName())
        self._events.append(("disconnected",))
        self._wake.set()

    def _on_publish(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        rc: ReasonCode,
        _props: object,
    ) -> None:
        self._events.append(("puback", mid, rc.value, rc.getName(), rc.is_failure))
        self._wake.set()

    def _on_ack(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            ids = json.loads(msg.payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            ids = None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            log.warning("ignored ack on %s: not a JSON list of record ids", msg.topic)
            return
        self._events.append(("ack", ids))
        self._wake.set()

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        # paho calls this inside its `except OSError`, so the exception is still at hand.
        exc = sys.exception()
        self._set_error(
            describe_error(exc, self._address, client_cert=self._client_cert)
            if exc
            else "connection failed"
        )

    def _on_log(self, _client: mqtt.Client, _userdata: object, level: int, msg: str) -> None:
        if level != mqtt.MQTT_LOG_ERR:
            return
        exc = sys.exception()
        # e.g. a TLS alert while reading: paho logs it and closes; keep the reason. Errors
        # without an exception ("not connected" while publishing) are paho's chatter.
        if exc is not None:
            self._set_error(describe_error(exc, self._address, client_cert=self._client_cert))
        else:
            log.debug("paho: %s", msg)

    def _set_error(self, text: str) -> None:
        with self._lock:
            changed = text != self._last_error
            self._last_error = text
        if changed:
            log.warning("mqtt: %s", text)

    def _warn(self, text: str) -> None:
        log.warning("%s", text)
        with self._lock:
            self._warnings.append(text)

    # --- the worker ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(TICK_S)
            self._wake.clear()
            try:
                self._cycle()
            except Exception:  # a thread's top level: log, count, keep delivering
                log.exception("delivery cycle failed")
                with self._lock:
                    self._warnings.append("internal error in delivery (see log)")
                time.sleep(TICK_S)

    def _cycle(self) -> None:
        self._handle_events()
        with self._lock:
            connected = self._connected
        if connected:
            self._expire_awaiting()
            self._fill_window()
            self._maybe_health()

    def _handle_events(self) -> None:
        delivered: list[str] = []
        acked: list[str] = []
        while self._events:
            event = self._events.popleft()
            kind = event[0]
            if kind == "puback":
                done = self._puback(event[1], event[2], event[3], event[4])
                if done is not None:
                    delivered.append(done)
            elif kind == "ack":
                acked.extend(event[1])
            elif kind == "connected":
                self._connected_event()
            # "disconnected": paho keeps its queue and re-sends on reconnect; nothing to do.
        if acked:
            for rid in acked:
                self._awaiting.pop(rid, None)
                flight = self._inflight.get(rid)
                if flight is not None:
                    flight.acked = True
            delivered.extend(acked)
        if delivered:
            count = self._outbox.mark_delivered(delivered)
            with self._lock:
                self._delivered += count

    def _connected_event(self) -> None:
        # Everything sent before this connection and not confirmed is sent again: the broker
        # may have lost it (a crash before its save) while paho re-sends only unPUBACKed ones.
        self._resend_before_ns = self._now_ns()
        self._awaiting.clear()
        self._next_health = 0.0
        with self._lock:
            self._connected = True
            self._connects += 1
            self._last_error = None

    def _puback(self, mid: int, code: int, name: str, failure: bool) -> str | None:
        """Account one PUBACK; returns a record id that is now delivered (PUBACK mode)."""
        rid = self._mid_owner.pop(mid, None)
        if rid is None:
            return None  # status, keys, health
        flight = self._inflight[rid]
        flight.mids.discard(mid)
        if failure:
            flight.failure = f"0x{code:02x} {name}"
            with self._lock:
                self._failed[code] += 1
        if flight.mids:
            return None
        del self._inflight[rid]
        if flight.failure is not None:
            if not self._cfg.end_to_end_ack:
                self._outbox.mark_sent([rid], flight.sent_ns)
            self._warn(
                f"broker refused record {rid}: {flight.failure}; kept, retry in "
                f"{self._cfg.ack_timeout_s:g} s"
            )
            return None
        with self._lock:
            self._published += 1
        if not self._cfg.end_to_end_ack:
            return rid
        if not flight.acked:
            self._awaiting[rid] = self._now_ns()
        return None

    def _expire_awaiting(self) -> None:
        if not self._awaiting:
            return
        cutoff = self._now_ns() - int(self._cfg.ack_timeout_s * 1e9)
        expired = [rid for rid, t in self._awaiting.items() if t < cutoff]
        for rid in expired:
            del self._awaiting[rid]

    def _free_slots(self) -> int:
        free = self._window - len(self._inflight)
        if self._cfg.end_to_end_ack:
            free = min(free, self._max_unacked - len(self._awaiting) - len(self._inflight))
        return free

    def _fill_window(self) -> None:
        while not self._stopping.is_set():
            free = self._free_slots()
            # Refill in batches, not one record per PUBACK: fewer queries and commits.
            if free <= 0 or (free < self._window // 4 and self._inflight):
                return
            now = self._now_ns()
            # Due: never sent, sent before the last (re)connect, or sent longer ago than the
            # ack timeout. Due records still in paho's hands are skipped.
            cutoff = max(self._resend_before_ns, now - int(self._cfg.ack_timeout_s * 1e9))
            if self._cfg.end_to_end_ack:
                skip = sum(f.sent_ns < cutoff for f in self._inflight.values())
            else:
                skip = len(self._inflight)  # not marked sent (see below): all are returned
            batch = self._due(PRIORITY_TYPES, free, skip, cutoff, set())
            if len(batch) < free:
                batch += self._due(None, free - len(batch), skip + len(batch), cutoff, batch)
            if not batch:
                return
            sent = [r.id for r in batch if self._publish_record(r, now)]
            # With PUBACK delivery the PUBACK deletes the record soon; a failed one is marked
            # sent then (to wait before retrying), which saves a commit per batch.
            if sent and self._cfg.end_to_end_ack:
                self._outbox.mark_sent(sent, now)
            if len(sent) < len(batch):
                return  # paho refused some: try again on the next cycle

    def _due(
        self,
        types: tuple[str, ...] | None,
        limit: int,
        skip: int,
        cutoff: int,
        taken: Collection[StoredRecord],
    ) -> list[StoredRecord]:
        seen = {r.id for r in taken}
        rows = self._outbox.pending(limit + skip, types=types, sent_before_ns=cutoff)
        return [r for r in rows if r.id not in self._inflight and r.id not in seen][:limit]

    def _publish_record(self, record: StoredRecord, now: int) -> bool:
        """Hand a record (evidence first, then the JWS) to paho; False if paho refused it."""
        flight = _Flight(record.id, now)
        for ev in record.evidence:
            try:
                data = Path(ev.path).read_bytes()
            except OSError as exc:
                self._warn(f"evidence {ev.name} of record {record.id} unreadable: {exc.strerror}")
                continue
            props = self._properties(ev.media_type, record)
            info = self._client.publish(
                self._topics.evidence(record.id, ev.name), data, qos=1, properties=props
            )
            if not self._track(info, flight):
                return False
        info = self._client.publish(
            self._topics.record(record.type),
            record.jws.encode("ascii"),
            qos=1,
            properties=self._properties(RECORD_CONTENT_TYPE, record),
        )
        if not self._track(info, flight):
            return False
        self._inflight[record.id] = flight
        return True

    def _track(self, info: mqtt.MQTTMessageInfo, flight: _Flight) -> bool:
        # NO_CONN means queued in paho, sent on reconnect: tracked like any other publish.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self._warn(
                f"paho refused a publish of {flight.record_id}: {mqtt.error_string(info.rc)}"
            )
            for mid in flight.mids:
                self._mid_owner.pop(mid, None)
            return False
        flight.mids.add(info.mid)
        self._mid_owner[info.mid] = flight.record_id
        return True

    def _properties(self, content_type: str, record: StoredRecord) -> Properties | None:
        if not self._v5:
            return None
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ContentType = content_type
        props.UserProperty = [("rid", record.id), ("seq", str(record.seq))]
        return props

    def _maybe_health(self) -> None:
        now = time.monotonic()
        if now < self._next_health:
            return
        self._next_health = now + self._cfg.health_interval_s
        stats = self._outbox.stats()
        st = self.status()
        payload = health_payload(
            stats,
            now_ns=self._now_ns(),
            connected=st.connected,
            published=st.published,
            delivered=st.delivered,
            warnings=st.warnings,
            extra=self._health_extra() if self._health_extra is not None else None,
        )
        self._client.publish(self._topics.health, payload, qos=1)
