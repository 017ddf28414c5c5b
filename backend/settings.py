"""Settings of one running backend, read from the environment once and injected everywhere."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SQLITE_PATH = Path("var") / "alluvial.sqlite"


def default_database_url() -> str:
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


@dataclass(frozen=True)
class Settings:
    """Everything configurable; `Settings.from_env()` is the only place the environment is read."""

    database_url: str = field(default_factory=default_database_url)
    token_ttl_seconds: int = 12 * 3600
    max_body_bytes: int = 2 * 1024 * 1024
    max_vertices: int = 5000
    page_size_default: int = 100
    page_size_max: int = 1000
    # A licensed area may touch a neighbour's by this much before the overlap is refused.
    overlap_tolerance_ha: str = "0.05"
    overlap_tolerance_share: float = 0.01
    # Boundaries from public data sets are generalised; a site this close to a border is inside.
    boundary_tolerance_m: float = 250.0
    spatialite_library: str = "mod_spatialite"
    # Offline sync: devices stay away for weeks, so their credentials outlive a user's token.
    device_token_ttl_seconds: int = 180 * 24 * 3600
    sync_pending_timeout_seconds: int = 72 * 3600
    sync_clock_drift_seconds: int = 300
    pull_page_default: int = 1000
    pull_page_max: int = 5000
    # A gzip body may expand to this much; more is refused (a zip bomb costs nothing to send).
    max_inflated_bytes: int = 32 * 1024 * 1024
    # The web map draws our own boundaries over a plain background; tiles only when set
    # (an XYZ template such as https://tile.example.org/{z}/{x}/{y}.png).
    map_tile_url: str | None = None
    map_tile_attribution: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        if env.get("DATABASE_URL"):
            values["database_url"] = env["DATABASE_URL"]
        if env.get("TOKEN_TTL_SECONDS"):
            values["token_ttl_seconds"] = int(env["TOKEN_TTL_SECONDS"])
        if env.get("MAX_BODY_BYTES"):
            values["max_body_bytes"] = int(env["MAX_BODY_BYTES"])
        if env.get("SPATIALITE_LIBRARY_PATH"):
            values["spatialite_library"] = env["SPATIALITE_LIBRARY_PATH"]
        if env.get("MAP_TILE_URL"):
            values["map_tile_url"] = env["MAP_TILE_URL"]
        if env.get("MAP_TILE_ATTRIBUTION"):
            values["map_tile_attribution"] = env["MAP_TILE_ATTRIBUTION"]
        return cls(**values)  # type: ignore[arg-type]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
