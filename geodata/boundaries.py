"""Country and district boundaries shipped with the package (Natural Earth, see data/SOURCE.md)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

DEMO_COUNTRY = "SL"


@cache
def _load(name: str) -> dict[str, Any]:
    text = resources.files("geodata").joinpath("data", name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _countries() -> dict[str, BaseGeometry]:
    return {
        f["properties"]["iso2"]: shape(f["geometry"])
        for f in _load("countries.geojson")["features"]
    }


def countries() -> list[str]:
    """The ISO 3166-1 alpha-2 codes that have a boundary, sorted."""
    return sorted(_countries())


def country_name(iso2: str) -> str | None:
    """The Natural Earth short name of a country, or None if it has no boundary here."""
    for f in _load("countries.geojson")["features"]:
        if f["properties"]["iso2"] == iso2.upper():
            name: str = f["properties"]["name"]
            return name
    return None


def country_boundary(iso2: str) -> BaseGeometry | None:
    """The country's outline (simplified; see SOURCE.md), or None for an unknown code."""
    return _countries().get(iso2.upper())


@cache
def _demo() -> dict[str, Any]:
    features = _load(f"{DEMO_COUNTRY}.geojson")["features"]
    by_level: dict[str, list[dict[str, Any]]] = {}
    for f in features:
        by_level.setdefault(f["properties"]["level"], []).append(f)
    (country,) = by_level["country"]
    regions = [
        {
            "code": r["properties"]["code"],
            "name": r["properties"]["name"],
            "boundary": shape(r["geometry"]),
            "districts": [
                {
                    "code": d["properties"]["code"],
                    "name": d["properties"]["name"],
                    "boundary": shape(d["geometry"]),
                    "approximate": d["properties"]["approximate"],
                }
                for d in by_level["district"]
                if d["properties"]["region"] == r["properties"]["code"]
            ],
        }
        for r in by_level["region"]
    ]
    return {
        "code": country["properties"]["code"],
        "name": country["properties"]["name"],
        "boundary": shape(country["geometry"]),
        "regions": regions,
    }


def demo_country() -> dict[str, Any]:
    """Sierra Leone at full Natural Earth 10m detail, its 4 regions and 14 districts.

    District outlines are approximations (see data/SOURCE.md); regions and country are real.
    Each call returns fresh dicts and lists; the shapely geometries (immutable) are shared.
    """
    demo = _demo()
    return {
        **demo,
        "regions": [{**r, "districts": [dict(d) for d in r["districts"]]} for r in demo["regions"]],
    }
