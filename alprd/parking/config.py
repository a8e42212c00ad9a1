"""Configuration of the parking stage: per-camera role and "in" direction, and the stage's knobs.

Kept beside the stage (alprd.config imports these models into CameraConfig and AppConfig), with
the same rules: unknown keys are errors, models are frozen, no I/O in validators.
"""
from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Point = tuple[float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class InDirection(_Model):
    """Which way is "in" in the image: a `vector` [dx, dy] (pixels, y down), or a `line`
    [[x1, y1], [x2, y2]] whose right-hand side, walking from the first point to the second, is
    inside (a car moving across it to that side travels in)."""

    vector: Point | None = None
    line: tuple[Point, Point] | None = None

    @model_validator(mode="after")
    def _one(self):
        if (self.vector is None) == (self.line is None):
            raise ValueError("give exactly one of vector or line")
        if math.hypot(*self.unit_raw()) == 0:
            raise ValueError("the in direction has zero length")
        return self

    def unit_raw(self) -> Point:
        if self.vector is not None:
            return self.vector
        (x1, y1), (x2, y2) = self.line  # type: ignore[misc]
        dx, dy = x2 - x1, y2 - y1
        return -dy, dx  # the right-hand normal in image coordinates (y grows downwards)

    def unit(self) -> Point:
        x, y = self.unit_raw()
        n = math.hypot(x, y)
        return x / n, y / n


class CameraParking(_Model):
    """A camera's part in a car park. role: entry (every final opens a visit), exit (every final
    closes one), both (its travel decides: in opens, out closes, unknown is ignored), none."""

    role: Literal["none", "entry", "exit", "both"] = "none"
    site: str = Field(default="default", min_length=1, max_length=64)
    inward: InDirection | None = None

    @model_validator(mode="after")
    def _both_needs_direction(self):
        if self.role == "both" and self.inward is None:
            raise ValueError("role both needs inward (a vector or a line) to tell entries from exits")
        return self


class ParkingConfig(_Model):
    enabled: bool = True
    match_previews: bool = True          # match previews too: an allow list answers a waiting gate early
    lists_refresh_s: float = Field(default=5.0, gt=0, description="how often the daemon checks the lists changed")
    visit_max_distance: float = Field(default=0.8, ge=0, description="exit read vs entry read")
    max_visit_age_s: float = Field(default=7 * 86400.0, gt=0, description="an open visit older is closed as expired")
    repeat_s: float = Field(default=60.0, ge=0, description="one gate reading one plate twice within this is one passage")
    costs_file: str | None = None        # None = the confusion costs measured on dev, shipped with alprd
