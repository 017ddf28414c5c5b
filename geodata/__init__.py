"""Pure geometry and geography: GeoJSON in and out, validation, geodesic measures, boundaries."""
