"""`edge run` on a real pty: bytes on a serial port become signed records in the outbox,
and a USB unplug in the middle does not stop the unit."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from drivers.scap import ScapReader
from edge.config.site import SiteConfig, load_site
from edge.outbox.store import Outbox
from edge.records.keys import SigningKey
from edge.service import Service
from edge.sim import SimOptions, generate
from tests.conftest import REFERENCE_SITE
from tests.mosquitto import BackOffice, Broker, broker  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


class Pty:
    """A pty pair whose slave is reachable through a stable symlink, like /dev/serial/by-id."""

    def __init__(self, link: Path) -> None:
        self.master, self.slave = os.openpty()
        if link.is_symlink():
            link.unlink()
        link.symlink_to(os.ttyname(self.slave))

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


def _site(tmp_path: Path, port: Path) -> SiteConfig:
    data = yaml.safe_load(REFERENCE_SITE.read_text())
    data["serial"]["wim0"]["url"] = str(port)
    data["serial"]["wim0"]["reopen_max_s"] = 0.2
    data["records"] = {"data_dir": str(tmp_path / "state"), "key_file": str(tmp_path / "key.pem")}
    data["outbox"] = {"min_free_bytes": 0}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    SigningKey.generate().save(tmp_path / "key.pem")
    return load_site(path)


def _feed_realtime(pty_for: Any, scap: Path, unplug_at_s: float | None = None) -> None:
    """Write the capture's chunks at their recorded times; optionally unplug once."""
    start = time.monotonic()
    pty = pty_for()
    unplugged = False
    with ScapReader(scap) as reader:
        for chunk in reader:
            delay = chunk.t_ns / 1e9 - (time.monotonic() - start)
            if delay > 0:
                time.sleep(delay)
            if unplug_at_s is not None and not unplugged and chunk.t_ns / 1e9 > unplug_at_s:
                pty.close()  # the USB adapter is pulled ...
                time.sleep(0.5)
                pty = pty_for()  # ... and plugged back in
                time.sleep(0.5)
                unplugged = True
                continue
            pty.write(chunk.data)
    time.sleep(3.0)  # let the last vehicle clear the max axle gap
    pty.close()


def _records(outbox_path: Path) -> list[dict[str, Any]]:
    from edge.config.site import OutboxConfig

    box = Outbox(outbox_path, OutboxConfig(min_free_bytes=0))
    try:
        stored = box.pending(1_000_000)
    finally:
        box.close()
    out = []
    for rec in stored:
        payload = rec.jws.split(".")[1]
        out.append(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    return out


def _run(
    tmp_path: Path, unplug_at_s: float | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    scn = tmp_path / "scn"
    generate(scn, SimOptions(vehicles=4, seed=5, lanes=2, mean_headway_s=2.0, line_noise=0.0))
    truth = [json.loads(x) for x in (scn / "truth.jsonl").read_text().splitlines()]
    link = tmp_path / "usb-lcs1-board-if00"
    first = Pty(link)  # present before the service starts
    site = _site(tmp_path, link)
    stop = threading.Event()
    service = Service(site)
    runner = threading.Thread(target=service.run, args=(stop,), kwargs={"poll_s": 0.2})
    runner.start()
    ptys = [first]

    def pty_for() -> Pty:
        if ptys and ptys[-1] is first and len(ptys) == 1:
            ptys.append(first)
            return first
        ptys.append(Pty(link))
        return ptys[-1]

    try:
        _feed_realtime(pty_for, scn / "wim0.scap", unplug_at_s)
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()
    return truth, _records(tmp_path / "state" / "outbox.sqlite")


def test_live_port_to_signed_records(tmp_path: Path) -> None:
    truth, records = _run(tmp_path, unplug_at_s=None)
    vehicles = [r for r in records if r["type"] == "vehicle"]
    assert len(vehicles) == len(truth)
    assert sorted(len(v["axles"]) for v in vehicles) == sorted(len(t["axles"]) for t in truth)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert all(r["clock"]["source"] == "ntp" for r in records)


def test_unplugged_port_is_reopened_and_weighing_goes_on(tmp_path: Path) -> None:
    truth, records = _run(tmp_path, unplug_at_s=2.0)
    vehicles = [r for r in records if r["type"] == "vehicle"]
    late = [t for t in truth if t["t_ns"] / 1e9 > 4.0]
    assert late, "the scenario must have vehicles after the re-plug"
    # Every vehicle that crossed after the adapter came back is weighed.
    assert len(vehicles) >= len(late)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))


def test_health_reports_devices_queue_and_disk(tmp_path: Path, broker: Broker) -> None:  # noqa: F811
    link = tmp_path / "usb-lcs1-board-if00"
    pty = Pty(link)
    data = yaml.safe_load(REFERENCE_SITE.read_text())
    data["serial"]["wim0"]["url"] = str(link)
    data["records"] = {"data_dir": str(tmp_path / "state"), "key_file": str(tmp_path / "key.pem")}
    data["outbox"] = {"min_free_bytes": 0}
    data["mqtt"] = {"url": broker.url, "health_interval_s": 0.3}
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    SigningKey.generate().save(tmp_path / "key.pem")
    office = BackOffice(broker.url, "roadside/reference-site/cabinet-01", ack=False)
    stop = threading.Event()
    runner = threading.Thread(
        target=Service(load_site(tmp_path / "site.yaml")).run, args=(stop,), kwargs={"poll_s": 0.2}
    )
    runner.start()
    try:
        deadline = time.monotonic() + 15
        health: dict[str, Any] | None = None
        while time.monotonic() < deadline and health is None:
            with office.lock:
                msgs = [m for m in office.messages if m.topic.endswith("/health")]
            for m in msgs:
                h = json.loads(m.payload)
                if h["sources"]["wim0"]["state"] == "up":
                    health = h
            time.sleep(0.1)
    finally:
        stop.set()
        runner.join(timeout=30)
        office.close()
        pty.close()
    assert health is not None, "no health message saying wim0 is up"
    assert health["queue"]["pending"] == 0
    assert health["disk_free_bytes"] > 0
    assert health["clock"]["synced"] in (True, False)
    assert health["connected"] is True
