"""scenario.yaml: what a recorded scenario folder holds (specs/bench.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field

from edge.config.base import ConfigModel
from edge.config.loader import load_model
from edge.errors import CaptureError, ConfigError


class ScenarioCamera(ConfigModel):
    """One camera's video in a scenario."""

    file: str = Field(description="video file, relative to the scenario folder")
    frames: str | None = Field(None, description="optional frames.csv with per-frame times")
    start_ns: int = Field(0, description="time of frame 0 when there is no frames file")


class ScenarioFile(ConfigModel):
    """The contents of scenario.yaml."""

    version: Literal[1] = Field(1, description="scenario format version")
    site: str | None = Field(None, description="site configuration, relative path")
    t0_unix_ns: int = Field(ge=0, description="wall-clock time of scenario time 0")
    serial: dict[str, str] = Field(default_factory=dict, description="source name -> .scap file")
    cameras: dict[str, ScenarioCamera] = Field(default_factory=dict, description="cameras")


class Scenario:
    """A scenario folder with its paths resolved and checked."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        manifest = folder / "scenario.yaml"
        if not folder.is_dir():
            raise CaptureError(f"{folder}: scenario folder not found")
        if not manifest.is_file():
            raise CaptureError(f"{manifest}: scenario.yaml not found")
        self.file = load_model(manifest, ScenarioFile)
        for name, rel in self.file.serial.items():
            if not (folder / rel).is_file():
                raise CaptureError(f"{folder / rel}: capture for serial source {name!r} not found")
        for name, cam in self.file.cameras.items():
            if not (folder / cam.file).is_file():
                raise CaptureError(f"{folder / cam.file}: video for camera {name!r} not found")

    @property
    def t0_unix_ns(self) -> int:
        """Wall-clock time of scenario time 0."""
        return self.file.t0_unix_ns

    def serial_path(self, name: str) -> Path:
        """Path of the capture of serial source `name`."""
        return self.folder / self.file.serial[name]

    def site_path(self) -> Path | None:
        """The site configuration the recording belongs to, if it names one."""
        return self.folder / self.file.site if self.file.site else None


def write_scenario_yaml(folder: Path, scenario: ScenarioFile) -> Path:
    """Write scenario.yaml for a folder (used by `edge simulate` and `edge record`).

    Written to a temporary file and renamed over the old one: `edge record` rewrites it while
    recording (a camera's first frame adds it), and a kill mid-write must leave the old file.
    """
    path = folder / "scenario.yaml"
    tmp = folder / ".scenario.yaml.tmp"
    data = scenario.model_dump(exclude_none=True, exclude_defaults=False)
    try:
        tmp.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc}") from None
    return path
