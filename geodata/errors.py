"""The geodata error tree; every error names where in the submitted GeoJSON it is.

    ValueError
    └── GeoError                    invalid-geometry
        ├── MalformedGeoJSON        malformed-geojson
        ├── WrongGeometryType       wrong-geometry-type
        ├── UnsupportedCRS          unsupported-crs
        ├── CoordinateOutOfRange    coordinate-out-of-range
        ├── TooFewPoints            too-few-points
        ├── UnclosedRing            unclosed-ring
        ├── SelfIntersection        self-intersection
        ├── InvalidGeometry         invalid-geometry (any other shapely invalidity reason)
        ├── TooManyVertices         too-many-vertices
        ├── SwappedCoordinates      swapped-coordinates
        └── OutsideBoundary         outside-boundary

`pointer` is a JSON pointer (RFC 6901) into the submitted object, e.g.
"/geometry/coordinates/0/3"; `detail` is safe to show to the user.
"""

from __future__ import annotations


class GeoError(ValueError):
    """Base. Every error names where in the input it is."""

    code: str = "invalid-geometry"

    def __init__(self, detail: str, *, pointer: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer

    def __str__(self) -> str:
        return f"{self.detail} (at {self.pointer or '/'})"


class MalformedGeoJSON(GeoError):
    """Not a GeoJSON geometry or feature: missing members, wrong JSON types, bad numbers."""

    code = "malformed-geojson"


class WrongGeometryType(GeoError):
    """A geometry type this field does not accept."""

    code = "wrong-geometry-type"


class UnsupportedCRS(GeoError):
    """A coordinate reference system other than WGS 84 longitude/latitude."""

    code = "unsupported-crs"


class CoordinateOutOfRange(GeoError):
    """Longitude outside [-180, 180] or latitude outside [-90, 90]."""

    code = "coordinate-out-of-range"


class TooFewPoints(GeoError):
    """A ring with fewer than 4 positions, or a polygon without an exterior ring."""

    code = "too-few-points"


class UnclosedRing(GeoError):
    """A ring whose last position differs from its first."""

    code = "unclosed-ring"


class SelfIntersection(GeoError):
    """A ring that crosses itself or another ring; the detail gives the crossing point."""

    code = "self-intersection"


class InvalidGeometry(GeoError):
    """Any other invalidity shapely reports (duplicate rings, holes outside the shell, ...)."""

    code = "invalid-geometry"


class TooManyVertices(GeoError):
    """More vertices than the field allows."""

    code = "too-many-vertices"


class SwappedCoordinates(GeoError):
    """Latitude and longitude apparently given the wrong way round."""

    code = "swapped-coordinates"


class OutsideBoundary(GeoError):
    """A geometry not inside the country or district it claims to be in."""

    code = "outside-boundary"
