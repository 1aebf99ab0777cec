"""The site configuration: one YAML file describes a cabinet, its sensors, its law and its uplink.

Each section is a small model in this file; the services read only the section they need.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from edge.config.base import ConfigModel
from edge.config.loader import load_model
from edge.vision.plates.config import PlatesConfig

MIN_ZONE = 0.05  # of the frame's width or height: a narrower plate zone is a slip, not a lane

Identifier = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="letters, digits, '.', '_' or '-' (used in MQTT topics and file names)",
    ),
]


class SiteInfo(ConfigModel):
    """Who and where: identifiers carried in every record and MQTT topic."""

    id: Identifier = Field(description="site identifier, unique in the fleet")
    name: str = Field("", max_length=200, description="human-readable site name")
    timezone: str = Field("UTC", description="IANA zone, for displays only; records are UTC")


class DeviceInfo(ConfigModel):
    """The unit itself."""

    id: Identifier = Field(description="device identifier, unique within the site")


class SerialSource(ConfigModel):
    """One serial link to weighing hardware."""

    url: str = Field(
        min_length=1,
        description="device path (prefer /dev/serial/by-id/...), socket://host:port or loop://",
    )
    protocol: Literal["lcs1", "wvr1", "toledo"] = Field(description="wire format on this link")
    baud: int = Field(921600, ge=300, le=12_000_000, description="baud rate (USB CDC ignores it)")
    reopen_max_s: float = Field(
        10.0, gt=0, le=300, description="longest wait between attempts to reopen a lost port"
    )


class LaneChannels(ConfigModel):
    """Which channel of the source carries which platform of a lane (LCS1 only)."""

    a_left: int = Field(ge=0, le=31, description="row A, left wheel track")
    a_right: int = Field(ge=0, le=31, description="row A, right wheel track")
    b_left: int = Field(ge=0, le=31, description="row B, left wheel track")
    b_right: int = Field(ge=0, le=31, description="row B, right wheel track")

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        chans = [self.a_left, self.a_right, self.b_left, self.b_right]
        if len(set(chans)) != 4:
            raise ValueError(
                f"the four platforms of a lane need four distinct channels, got {chans}"
            )
        return self

    def as_tuple(self) -> tuple[int, int, int, int]:
        """(a_left, a_right, b_left, b_right)."""
        return (self.a_left, self.a_right, self.b_left, self.b_right)


class Lane(ConfigModel):
    """One weighed lane."""

    lane: int = Field(ge=1, le=16, description="lane number, 1-based, as in records")
    source: Identifier = Field(description="serial source name that carries this lane")
    channels: LaneChannels | None = Field(
        None, description="LCS1 channel map; omit for sources that report whole vehicles (WVR1)"
    )


class WimGeometry(ConfigModel):
    """Sensor layout and vehicle segmentation."""

    row_spacing_m: float = Field(3.0, gt=0.5, le=20, description="row A to row B, along travel")
    platform_length_m: float = Field(0.75, gt=0.1, le=3, description="platform length along travel")
    group_spacing_m: float = Field(
        2.1, gt=0.5, le=4, description="axles closer than this form a group (tandem, tridem)"
    )
    max_axle_spacing_m: float = Field(
        12.0, gt=2, le=30, description="a larger gap after an axle ends the vehicle"
    )
    max_axle_gap_s: float = Field(
        2.0, gt=0.05, le=30, description="a longer time gap after an axle ends the vehicle"
    )
    min_speed_kmh: float = Field(5.0, ge=0, le=50, description="slower crossings are flagged")
    max_speed_kmh: float = Field(
        160.0, gt=20, le=250, description="faster readings are implausible"
    )
    lanes: list[Lane] = Field(min_length=1, description="weighed lanes")

    @model_validator(mode="after")
    def _unique_lanes(self) -> Self:
        numbers = [lane.lane for lane in self.lanes]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"lane numbers must be unique, got {numbers}")
        return self


class ChannelCalibration(ConfigModel):
    """Counts to force for one channel: force_kg = (counts - zero) * kg_per_count."""

    zero: float = Field(ge=-8_388_608, le=8_388_607, description="ADC counts at no load")
    kg_per_count: float = Field(gt=0, le=100, description="kilograms per ADC count")


class SpeedFactor(ConfigModel):
    """A multiplicative load correction for crossings within a speed band."""

    min_kmh: float = Field(ge=0, le=250, description="band start (inclusive)")
    max_kmh: float = Field(gt=0, le=250, description="band end (exclusive)")
    factor: float = Field(1.0, gt=0.5, lt=1.5, description="multiplier applied to axle loads")
    lane: int | None = Field(None, ge=1, le=16, description="only this lane; all lanes if omitted")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_kmh <= self.min_kmh:
            raise ValueError("max_kmh must be greater than min_kmh")
        return self


class Calibration(ConfigModel):
    """The calibration in force; its id is carried into every weighed vehicle."""

    id: Identifier = Field(
        description="calibration identifier, e.g. the date of the test-truck runs"
    )
    channels: dict[Identifier, list[ChannelCalibration]] = Field(
        default_factory=dict, description="per serial source, one entry per channel in order"
    )
    speed_factors: list[SpeedFactor] = Field(
        default_factory=list, description="load correction per speed band (empty: factor 1)"
    )


class Tolerance(ConfigModel):
    """How much measurement uncertainty the law grants before a vehicle counts as overloaded."""

    policy: Literal["none", "percent", "accuracy_class"] = Field(
        "none", description="none; a fixed percent; or the in-service limit of the scale's class"
    )
    percent: float = Field(0.0, ge=0, le=20, description="with policy percent: e.g. 5")
    accuracy_class: Literal["A(5)", "B+(7)", "B(10)", "C(15)", "0.5", "1", "2", "5", "7", "10"] = (
        Field("A(5)", description="with policy accuracy_class: COST 323 or OIML R134 class")
    )

    @model_validator(mode="after")
    def _percent_needed(self) -> Self:
        if self.policy == "percent" and self.percent <= 0:
            raise ValueError("policy 'percent' needs percent > 0")
        return self


class Rules(ConfigModel):
    """Which law decides overloads."""

    profile: Literal["cn", "us", "eu"] = Field(
        description="cn: GB 1589-2016 and the 2016 over-limit rule; "
        "us: federal limits and bridge formula; eu: 96/53/EC"
    )
    tolerance: Tolerance = Field(default_factory=Tolerance, description="tolerance")
    report_vehicles: bool = Field(True, description="publish a vehicle record for every vehicle")


class Camera(ConfigModel):
    """One camera and where it looks."""

    url: str = Field(
        min_length=1, description="video file, rtsp:// or http:// stream, or /dev/videoN"
    )
    lane: int = Field(ge=1, le=16, description="lane this camera reads plates on")
    trigger_distance_m: float = Field(
        12.0, ge=-50, le=100, description="distance from row A to where plates are best read"
    )
    buffer_s: float = Field(4.0, gt=0.5, le=30, description="seconds of frames kept in memory")
    fps: float = Field(25.0, gt=0, le=240, description="expected frame rate")
    plate_window_s: float = Field(
        0.4, gt=0, le=5, description="plates are read on frames within +- this of the trigger time"
    )
    plate_frames: int = Field(
        5,
        ge=1,
        le=25,
        description="frames read per vehicle, spread over the window; where none of them shows "
        "a plate, the window's other frames are read too",
    )
    plate_wait_s: float = Field(
        2.0,
        ge=0,
        le=30,
        description="live: longest wait for frames past the trigger time before the vehicle is "
        "recorded without a plate",
    )
    ring_fps: float = Field(
        8.0,
        gt=0,
        le=240,
        description="frames per second kept in memory; the camera's other frames are decoded "
        "and skipped. The plate reader reads at most plate_frames frames within "
        "+-plate_window_s, so 8 fps leaves 6 frames in the default 0.8 s window",
    )
    ring_max_mb: float = Field(
        210.0,
        ge=1,
        le=4096,
        description="memory bound of this camera's frame ring, MB of raw BGR frames (1080p: "
        "6.2 MB a frame, 720p: 2.8 MB). It wins over buffer_s: 210 MB hold 4 s of 1080p at "
        "8 fps (720p needs 92 MB), and a vehicle recorded later than that after its trigger "
        "time (a long slow truck) gets plate null; the unit logs the seconds actually held",
    )

    plate_zone: tuple[float, float, float, float] | None = Field(
        None,
        description="the part of the picture where this camera's lane shows its plates, as "
        "x1, y1, x2, y2 shares (0-1) of the frame's width and height from its top left: plates "
        "outside it (a vehicle in the next lane) are not read; the zone is searched at the "
        "whole frame's scale, so it costs its share of the frame. Default: the whole frame",
    )

    @property
    def ring_max_bytes(self) -> int:
        """`ring_max_mb` in bytes."""
        return int(self.ring_max_mb * 1_000_000)

    @field_validator("plate_zone")
    @classmethod
    def _zone_in_frame(
        cls, zone: tuple[float, float, float, float] | None
    ) -> tuple[float, float, float, float] | None:
        if zone is None:
            return None
        x1, y1, x2, y2 = zone
        if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
            raise ValueError(
                f"{list(zone)} is not x1, y1, x2, y2 with 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1"
            )
        if x2 - x1 < MIN_ZONE or y2 - y1 < MIN_ZONE:
            raise ValueError(f"{list(zone)} is narrower than {MIN_ZONE:g} of the frame")
        return zone

    @model_validator(mode="after")
    def _window_in_buffer(self) -> Self:
        if 2 * self.plate_window_s >= self.buffer_s:
            raise ValueError(
                f"plate_window_s {self.plate_window_s:g} needs buffer_s > twice it "
                f"(buffer_s is {self.buffer_s:g})"
            )
        if 2 * self.plate_window_s * self.ring_fps < 1:
            raise ValueError(
                f"ring_fps {self.ring_fps:g} keeps no frame in a plate window of "
                f"2 x {self.plate_window_s:g} s: raise ring_fps or plate_window_s"
            )
        return self


class RecordsConfig(ConfigModel):
    """Where the unit keeps its key and its records."""

    data_dir: Path = Field(Path("/var/lib/roadside-edge"), description="state directory")
    key_file: Path | None = Field(
        None,
        description="Ed25519 private key (PEM); default: $CREDENTIALS_DIRECTORY/signing-key "
        "or <data_dir>/keys/signing-key.pem",
    )


class OutboxConfig(ConfigModel):
    """Durable store of records until their delivery is confirmed."""

    max_bytes: int = Field(2 * 1024**3, ge=1024**2, description="size budget of the outbox")
    min_free_bytes: int = Field(
        256 * 1024**2, ge=0, description="free-space floor on the data filesystem"
    )
    ballast_bytes: int = Field(
        8 * 1024**2, ge=0, le=1024**3, description="reserve file released when the disk fills"
    )


class MqttTls(ConfigModel):
    """TLS for the broker connection."""

    ca_file: Path | None = Field(None, description="CA bundle; system CAs if omitted")
    cert_file: Path | None = Field(None, description="client certificate (PEM)")
    key_file: Path | None = Field(None, description="client private key (PEM)")
    insecure_skip_hostname: bool = Field(False, description="never on a real site")

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class MqttConfig(ConfigModel):
    """The uplink to the back office."""

    url: str = Field(description="mqtt://host:port or mqtts://host:port")
    protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT protocol version")
    prefix: str = Field("roadside", pattern=r"^[^#+]{1,64}$", description="topic prefix")
    client_id: str | None = Field(None, max_length=64, description="default: <site>-<device>")
    username: str | None = Field(None, description="user name")
    password_file: Path | None = Field(
        None, description="file holding the password (or a systemd credential name)"
    )
    tls: MqttTls | None = Field(None, description="TLS settings (implied by mqtts://)")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive")
    session_expiry_s: int = Field(
        86400, ge=0, le=2**32 - 1, description="broker keeps our session this long (MQTT 5)"
    )
    max_inflight: int = Field(64, ge=1, le=65535, description="unacknowledged publishes at once")
    end_to_end_ack: bool = Field(
        False, description="a record leaves the outbox only when the back office acks its id"
    )
    ack_timeout_s: float = Field(30.0, gt=0, le=3600, description="re-send unacked records after")
    reconnect_min_s: float = Field(0.5, gt=0, le=60, description="first reconnect delay")
    reconnect_max_s: float = Field(10.0, gt=0, le=600, description="longest reconnect delay")
    health_interval_s: float = Field(60.0, gt=0, le=3600, description="period of {p}/health")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^mqtts?://[^/:]+(:\d+)?/?$", v):
            raise ValueError("expected mqtt://host[:port] or mqtts://host[:port]")
        return v


class SiteConfig(ConfigModel):
    """A whole site configuration file."""

    version: Literal[1] = Field(1, description="configuration format version")
    site: SiteInfo = Field(description="site identity")
    device: DeviceInfo = Field(description="device identity")
    serial: dict[Identifier, SerialSource] = Field(
        default_factory=dict, description="serial links by name"
    )
    wim: WimGeometry = Field(description="sensor layout and lanes")
    calibration: Calibration = Field(description="calibration in force")
    rules: Rules = Field(description="overload law")
    cameras: dict[Identifier, Camera] = Field(default_factory=dict, description="cameras by name")
    plates: PlatesConfig | None = Field(
        None, description="plate reading on the cameras' frames; omitted: plates are not read"
    )
    records: RecordsConfig = Field(default_factory=RecordsConfig, description="records")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig, description="outbox")
    mqtt: MqttConfig | None = Field(
        None, description="uplink; records only kept on disk if omitted"
    )

    @model_validator(mode="after")
    def _cross_refs(self) -> Self:
        for i, lane in enumerate(self.wim.lanes):
            src = self.serial.get(lane.source)
            if src is None:
                raise ValueError(
                    f"wim.lanes[{i}].source: {lane.source!r} is not a serial source "
                    f"(have {sorted(self.serial)})"
                )
            if src.protocol == "lcs1":
                if lane.channels is None:
                    raise ValueError(f"wim.lanes[{i}]: an LCS1 lane needs 'channels'")
                cal = self.calibration.channels.get(lane.source)
                if cal is None:
                    raise ValueError(
                        f"calibration.channels has no entry for source {lane.source!r}"
                    )
                missing = [c for c in lane.channels.as_tuple() if c >= len(cal)]
                if missing:
                    raise ValueError(
                        f"calibration.channels.{lane.source}: has {len(cal)} channels; "
                        f"lane {lane.lane} uses channel(s) {missing}"
                    )
        lanes = {lane.lane for lane in self.wim.lanes}
        for name, cam in self.cameras.items():
            if cam.lane not in lanes:
                raise ValueError(f"cameras.{name}.lane: {cam.lane} is not a weighed lane")
        return self


def load_site(path: Path) -> SiteConfig:
    """Load and validate a site configuration file (ConfigError names file, line and field)."""
    return load_model(path, SiteConfig)
