"""OGC API - Features (Part 1 Core, GeoJSON) over the registry and the insight aggregates."""
