"""Settings of one running backend, read from the environment once and injected everywhere."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    # Internal controls. A handheld GPS under forest canopy is off by 10-50 m, a pit is often
    # dug a few hundred metres past a mapped polygon's edge, and a buyer may weigh at the
    # nearest shade; 500 m accepts that and still catches a point in the next village (km).
    purchase_point_tolerance_m: float = 500.0
    # Licences run by local calendar dates: a purchase at 23:30 local time on the day a
    # licence expires is judged on that local date, not on UTC's.
    country_timezone: str = "Africa/Freetown"
    # Footprint: a parcel whose size distribution has a G-test p-value below this against
    # its claimed regions' profile fails; below footprint_warn_p it warns.
    footprint_fail_p: float = 0.001
    footprint_warn_p: float = 0.01
    # Fewer stones than this and the footprint test says nothing (see docs/evidence.md).
    footprint_min_stones: int = 60
    # Production plausibility looks back this many days from the parcel's latest purchase.
    production_window_days: int = 365

    # KP certificates: PEM Ed25519 key files, the first signs (see docs/certificates.md).
    certificate_key_files: tuple[str, ...] = ()
    certificate_issuing_authority: str = "National Kimberley Process Authority"
    certificate_validity_days: int = 60
    # A certificate with no import confirmation (return slip) after this many days is listed.
    certificate_confirmation_days: int = 30

    def __post_init__(self) -> None:
        # A wrong zone name must stop the server at start, not fail a report later.
        try:
            ZoneInfo(self.country_timezone)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(
                f"COUNTRY_TIMEZONE {self.country_timezone!r} is not a time zone"
            ) from err

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
        if env.get("COUNTRY_TIMEZONE"):
            values["country_timezone"] = env["COUNTRY_TIMEZONE"]
        if env.get("PURCHASE_POINT_TOLERANCE_M"):
            values["purchase_point_tolerance_m"] = float(env["PURCHASE_POINT_TOLERANCE_M"])
        if env.get("SPATIALITE_LIBRARY_PATH"):
            values["spatialite_library"] = env["SPATIALITE_LIBRARY_PATH"]
        if env.get("MAP_TILE_URL"):
            values["map_tile_url"] = env["MAP_TILE_URL"]
        if env.get("MAP_TILE_ATTRIBUTION"):
            values["map_tile_attribution"] = env["MAP_TILE_ATTRIBUTION"]
        if env.get("CERTIFICATE_KEY_FILES"):
            names = env["CERTIFICATE_KEY_FILES"].replace(os.pathsep, ",").split(",")
            values["certificate_key_files"] = tuple(n.strip() for n in names if n.strip())
        if env.get("CERTIFICATE_ISSUING_AUTHORITY"):
            values["certificate_issuing_authority"] = env["CERTIFICATE_ISSUING_AUTHORITY"]
        if env.get("CERTIFICATE_VALIDITY_DAYS"):
            values["certificate_validity_days"] = int(env["CERTIFICATE_VALIDITY_DAYS"])
        if env.get("CERTIFICATE_CONFIRMATION_DAYS"):
            values["certificate_confirmation_days"] = int(env["CERTIFICATE_CONFIRMATION_DAYS"])
        return cls(**values)  # type: ignore[arg-type]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
