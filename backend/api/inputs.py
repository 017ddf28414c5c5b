"""Turning request JSON into validated models: every failure names its field by JSON pointer."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

import pydantic
from shapely.geometry.base import BaseGeometry

from backend.errors import FieldError, ValidationFailed, from_geo_error, from_pydantic
from geodata.errors import GeoError
from geodata.geojson import parse_feature

M = TypeVar("M", bound=pydantic.BaseModel)


def parse_model(model: type[M], data: Any, *, prefix: str = "") -> M:
    if not isinstance(data, dict):
        raise ValidationFailed(
            "a JSON object is required", errors=[FieldError(prefix or "", "expected a JSON object")]
        )
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as err:
        raise from_pydantic(err, prefix=prefix) from err


def parse_feature_input(
    body: Any,
    model: type[M],
    *,
    allowed: Collection[str],
    max_vertices: int,
    geometry_required: bool,
) -> tuple[BaseGeometry | None, M]:
    """A GeoJSON Feature: its geometry checked by geodata, its properties by `model`."""
    try:
        geometry, properties = parse_feature(
            body, allowed=allowed, max_vertices=max_vertices, geometry_required=geometry_required
        )
    except GeoError as err:
        raise from_geo_error(err) from err
    return geometry, parse_model(model, properties or {}, prefix="/properties")
