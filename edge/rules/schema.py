"""The shape of the jurisdiction profiles (edge/rules/profiles/*.yaml), validated on load.

Limits are data: a change in the law is a new profile file with a new `version`, reviewed like
code, and every decision records the profile and version it applied.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from edge.config.base import ConfigModel
from edge.config.loader import load_model

PROFILE_DIR = Path(__file__).parent / "profiles"


class ProfileInfo(ConfigModel):
    """What every profile file says about itself."""

    profile: str = Field(min_length=1, description="profile id recorded in decisions")
    version: str = Field(min_length=1, description="version of this profile file")
    title: str = Field(description="human-readable name of the law")
    effective: str = Field(description="date the law took effect (ISO 8601)")
    sources: list[str] = Field(min_length=1, description="legal texts the values come from")
    always_assumes: list[str] = Field(
        default_factory=list, description="assumptions recorded for every vehicle"
    )


class Band(ConfigModel):
    """A limit for an axle group whose axle spacing d falls below `until_m`."""

    until_m: float | None = Field(description="upper bound of d in m; null: no upper bound")
    inclusive: bool = Field(False, description="d == until_m belongs to this band")
    limit_kg: int = Field(gt=0, le=100_000, description="limit of the whole group")
    article: str = Field(min_length=1, description="legal reference")
    assumes: str | None = Field(None, description="assumption recorded when this band applies")

    def contains(self, d: float) -> bool:
        """Whether spacing `d` (m) falls at or below this band's upper bound."""
        if self.until_m is None:
            return True
        return d <= self.until_m if self.inclusive else d < self.until_m


class SingleAxle(ConfigModel):
    """Limits of an axle that is alone in its group."""

    driving_kg: int = Field(gt=0, le=30_000, description="driving axle (dual or wide tyres)")
    non_driving_kg: int = Field(gt=0, le=30_000, description="non-driving axle")
    single_tyre_kg: int | None = Field(
        None, gt=0, description="single tyres each side: documented, never applied (unseen)"
    )
    driving_groups: int = Field(
        ge=0, le=4, description="single axles in the first N groups may be driving axles"
    )
    article_driving: str = Field(min_length=1, description="legal reference (driving)")
    article_non_driving: str = Field(min_length=1, description="legal reference (non-driving)")
    assumes_driving: str = Field(description="assumption recorded when the driving limit is used")


class GrossRule(ConfigModel):
    """A gross limit for the vehicles it matches; the first matching rule in the file applies."""

    axles: int | None = Field(None, ge=1, le=20, description="exact number of axles")
    min_axles: int | None = Field(None, ge=1, le=20, description="at least this many axles")
    max_axles: int | None = Field(None, ge=1, le=20, description="at most this many axles")
    configs: list[str] | None = Field(
        None, description="axle configurations ('1+2', group sizes front to back) matched"
    )
    second_group_axles: int | None = Field(None, ge=1, description="axles in the second group")
    last_group_axles: int | None = Field(None, ge=1, description="axles in the last group")
    last_group_min_spacing_m: float | None = Field(
        None, gt=0, description="the last group's largest axle spacing is at least this"
    )
    limit_kg: int | None = Field(gt=0, le=200_000, description="null: the law sets no limit")
    article: str = Field(min_length=1, description="legal reference")
    describes: str = Field(min_length=1, description="the vehicle type the rule is for")
    assumes: list[str] = Field(default_factory=list, description="assumptions when applied")

    @model_validator(mode="after")
    def _has_count(self) -> Self:
        if self.axles is None and self.min_axles is None:
            raise ValueError("a gross rule needs 'axles' or 'min_axles'")
        return self


class AxleLoadProfile(ProfileInfo):
    """A profile of axle, group and gross limits (China, EU)."""

    enforce_axle_limits: bool = Field(description="axle and group limits can make a violation")
    cap_gross_by_axle_sum: bool = Field(description="gross limit <= sum of the axle limits")
    cap_article: str = Field("", description="legal reference of that cap")
    single: SingleAxle = Field(description="single axles")
    tandem: list[Band] = Field(min_length=1, description="two-axle groups, by spacing")
    tridem: list[Band] = Field(min_length=1, description="three-axle groups, by spacing")
    larger_group_assumes: str = Field(description="assumption for groups of 4+ axles")
    gross: list[GrossRule] = Field(min_length=1, description="gross limits, first match applies")

    @model_validator(mode="after")
    def _bands_close(self) -> Self:
        for name, bands in (("tandem", self.tandem), ("tridem", self.tridem)):
            if bands[-1].until_m is not None:
                raise ValueError(f"{name}: the last band needs until_m: null")
        return self


class UsArticles(ConfigModel):
    """Legal references of the US federal limits."""

    single: str
    tandem: str
    gross: str
    bridge: str
    tandem_pair: str


class UsProfile(ProfileInfo):
    """US federal limits on the Interstate (23 CFR 658.17) and the Bridge Formula."""

    single_axle_lb: int = Field(gt=0, description="single axle limit")
    single_axle_span_in: float = Field(gt=0, description="axles within this span are one axle")
    tandem_lb: int = Field(gt=0, description="tandem axle limit")
    tandem_span_in: float = Field(gt=0, description="a tandem spans more than single, <= this")
    gross_lb: int = Field(gt=0, description="gross vehicle weight limit")
    bridge_coefficient_lb: int = Field(gt=0, description="W = coefficient * (L N/(N-1) + ...)")
    bridge_per_axle_ft: float = Field(description="... + per_axle * N ...")
    bridge_constant_ft: float = Field(description="... + constant)")
    bridge_round_lb: int = Field(gt=0, description="W is rounded to the nearest multiple")
    tandem_pair_min_span_ft: float = Field(gt=0, description="two tandems at least this long")
    tandem_pair_lb: int = Field(gt=0, description="... may carry this together")
    articles: UsArticles


@cache
def load_axle_profile(name: str) -> AxleLoadProfile:
    """Load and validate profiles/<name>.yaml (ConfigError names the file and field)."""
    return load_model(PROFILE_DIR / f"{name}.yaml", AxleLoadProfile)


@cache
def load_us_profile(name: str) -> UsProfile:
    """Load and validate the US profile file."""
    return load_model(PROFILE_DIR / f"{name}.yaml", UsProfile)
