"""One serial source's bytes in, weighed vehicles out: parser + weigher chosen by protocol.

The live service (bytes from drivers.serial) and replay (chunks from a SCAP1 capture) feed the
same decoder with `(host_t_ns, bytes)`; only where the bytes come from differs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, is_dataclass, replace
from typing import Any, Protocol

from edge.config.site import SiteConfig
from edge.errors import ConfigError
from edge.wim.classify import classify
from edge.wim.model import WeighedVehicle
from edge.wim.protocols.lcs1_stream import Lcs1StreamParser
from edge.wim.protocols.wvr1 import Wvr1LineParser, wvr1_to_vehicle
from edge.wim.weigher import Lcs1Weigher


class SourceDecoder(Protocol):
    """Bytes of one serial source to vehicles."""

    name: str
    protocol: str

    def feed(self, host_t_ns: int, data: bytes) -> list[WeighedVehicle]:
        """Consume one chunk as the port delivered it."""
        ...

    def flush(self) -> list[WeighedVehicle]:
        """End of input: emit vehicles still being assembled."""
        ...

    def reset(self) -> None:
        """The port was reopened: forget partial frames (an outage is not a sequence gap)."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counters for summary.json and health (parse errors, frames, vehicles, ...)."""
        ...


@dataclass
class Lcs1Decoder:
    """LCS1 frames -> signal processing -> vehicles of the lanes this source carries."""

    name: str
    site: SiteConfig
    protocol: str = "lcs1"
    vehicles: int = 0
    _last_t_ns: int = 0
    _parser: Lcs1StreamParser = field(init=False)
    _weigher: Lcs1Weigher = field(init=False)

    def __post_init__(self) -> None:
        self._parser = Lcs1StreamParser()
        self._weigher = Lcs1Weigher(self.site, self.name)

    def feed(self, host_t_ns: int, data: bytes) -> list[WeighedVehicle]:
        """Parse frames and weigh; every frame completed by this chunk gets its receive time."""
        out: list[WeighedVehicle] = []
        self._last_t_ns = host_t_ns
        for frame in self._parser.feed(data):
            out.extend(self._weigher.feed(frame, host_t_ns))
        self.vehicles += len(out)
        return out

    def flush(self) -> list[WeighedVehicle]:
        """Vehicles still on or near the scale at the end of input."""
        out: list[WeighedVehicle] = []
        for frame in self._parser.flush():  # frames held back behind a damaged length field
            out.extend(self._weigher.feed(frame, self._last_t_ns))
        out.extend(self._weigher.flush())
        self.vehicles += len(out)
        return out

    def reset(self) -> None:
        """Drop a partial frame left from before the port was lost."""
        self._parser.reset()

    def stats(self) -> dict[str, Any]:
        """Parser and weigher counters."""
        return {
            "protocol": self.protocol,
            "parser": _as_dict(self._parser.stats()),
            "weigher": _as_dict(self._weigher.stats()),
            "vehicles": self.vehicles,
        }


@dataclass
class Wvr1Decoder:
    """WVR1 vehicle lines from a WIM controller -> vehicles (the controller did the weighing)."""

    name: str
    site: SiteConfig
    t0_unix_ns: int
    protocol: str = "wvr1"
    vehicles: int = 0
    unknown_lane: int = 0
    _parser: Wvr1LineParser = field(init=False)
    _lanes: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        self._parser = Wvr1LineParser()
        self._lanes = frozenset(
            lane.lane for lane in self.site.wim.lanes if lane.source == self.name
        )

    def feed(self, host_t_ns: int, data: bytes) -> list[WeighedVehicle]:
        """Parse complete lines; records of lanes this source does not carry are counted."""
        out = []
        for rec in self._parser.feed(data):
            vehicle = wvr1_to_vehicle(rec, self.t0_unix_ns, self.site.calibration.id, self.name)
            if vehicle.lane not in self._lanes:
                self.unknown_lane += 1
                continue
            classes = classify(vehicle, self.site.wim.group_spacing_m)
            out.append(replace(vehicle, classes=tuple(classes)))
        self.vehicles += len(out)
        return out

    def flush(self) -> list[WeighedVehicle]:
        """WVR1 lines are whole vehicles: nothing is pending at the end."""
        return []

    def reset(self) -> None:
        """Drop a partial line left from before the port was lost."""
        self._parser = Wvr1LineParser()

    def stats(self) -> dict[str, Any]:
        """Parser counters."""
        return {
            "protocol": self.protocol,
            "parser": _as_dict(self._parser.stats()),
            "vehicles": self.vehicles,
            "unknown_lane": self.unknown_lane,
        }


def _as_dict(stats: Any) -> dict[str, Any]:
    """Counters from a frozen dataclass or a mapping."""
    if is_dataclass(stats) and not isinstance(stats, type):
        return asdict(stats)
    return dict(stats)


def make_decoder(site: SiteConfig, source: str, t0_unix_ns: int) -> SourceDecoder:
    """The decoder for serial source `source` of the site, by its protocol."""
    src = site.serial.get(source)
    if src is None:
        raise ConfigError(f"serial source {source!r} is not in the site configuration")
    if src.protocol == "lcs1":
        return Lcs1Decoder(source, site)
    if src.protocol == "wvr1":
        return Wvr1Decoder(source, site, t0_unix_ns)
    raise ConfigError(
        f"serial.{source}.protocol: {src.protocol!r} reports single weights, not vehicles; "
        "it is not supported for weigh-in-motion lanes"
    )
