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
    # Only a sync push may: every other route's body inflates to `max_body_bytes` at most.
    max_inflated_bytes: int = 32 * 1024 * 1024
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
    # Login throttling (backend/auth/throttle.py): failures allowed per account and per client
    # address before a lockout, which starts here and doubles with each further failure.
    login_account_free: int = 5
    login_address_free: int = 50
    login_first_lock_seconds: int = 30
    login_max_lock_seconds: int = 3600
    login_window_seconds: int = 900
    # At most this many argon2 hashes at once per process; a login that waits longer than
    # `login_wait_seconds` for a slot gets 429, so a login flood cannot take every thread.
    password_hash_concurrency: int = 2
    login_wait_seconds: float = 1.0
    # The key that signs /api/v1 list cursors. Every worker process must use the same one:
    # set SECRET_KEY, or leave it empty and the key is read from `secret_key_file` (created,
    # once, by whichever process needs it first).
    secret_key: str = ""
    secret_key_file: str = str(Path("var") / "secret.key")
    # What a revoked device may still leave in quarantine, in ops and in bytes of op JSON.
    quarantine_max_ops: int = 1000
    quarantine_max_bytes: int = 2 * 1024 * 1024
    # Server processes for `serve`; None: one per core (see `serve_workers`).
    workers: int | None = None
    # The JSON parser stops counting numbers here (a 5000-vertex 3D polygon holds 15,000); a
    # sync push may hold more, and a client splits a push that gets 413.
    max_json_numbers: int = 50_000
    max_large_json_numbers: int = 250_000
    # Bodies over this size (on the wire or gzip-encoded) are decoded and handled a few at once.
    large_body_bytes: int = 256 * 1024
    max_large_bodies: int = 2
    # The web map draws our own boundaries over a plain background; tiles only when set
    # (an XYZ template such as https://tile.example.org/{z}/{x}/{y}.png).
    map_tile_url: str | None = None
    map_tile_attribution: str = ""
    # Each server process keeps list pages it has answered (backend/api/pagecache.py) up to
    # this many bytes (body and gzip-encoded body); 0 keeps none.
    page_cache_bytes: int = 32 * 1024 * 1024
    # Database connections each server process keeps open, and how many more it may open at
    # busy moments. Those extra ones are opened for one request and closed after it, which
    # costs more than a page read (a PostgreSQL backend, or SpatiaLite loaded); SQLAlchemy's
    # default of 5 kept made that the common case at 80 page reads/s.
    db_pool_size: int = 10
    db_max_overflow: int = 10

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
        if env.get("SECRET_KEY"):
            values["secret_key"] = env["SECRET_KEY"]
        if env.get("SECRET_KEY_FILE"):
            values["secret_key_file"] = env["SECRET_KEY_FILE"]
        for name in (
            "password_hash_concurrency",
            "login_account_free",
            "login_address_free",
            "quarantine_max_ops",
            "quarantine_max_bytes",
            "max_large_bodies",
            "page_cache_bytes",
            "db_pool_size",
            "db_max_overflow",
        ):
            if env.get(name.upper()):
                values[name] = int(env[name.upper()])
        if env.get("WEB_WORKERS"):
            values["workers"] = int(env["WEB_WORKERS"])
        if env.get("SPATIALITE_LIBRARY_PATH"):
            values["spatialite_library"] = env["SPATIALITE_LIBRARY_PATH"]
        if env.get("CERTIFICATE_KEY_FILES"):
            names = env["CERTIFICATE_KEY_FILES"].replace(os.pathsep, ",").split(",")
            values["certificate_key_files"] = tuple(n.strip() for n in names if n.strip())
        if env.get("CERTIFICATE_ISSUING_AUTHORITY"):
            values["certificate_issuing_authority"] = env["CERTIFICATE_ISSUING_AUTHORITY"]
        if env.get("CERTIFICATE_VALIDITY_DAYS"):
            values["certificate_validity_days"] = int(env["CERTIFICATE_VALIDITY_DAYS"])
        if env.get("CERTIFICATE_CONFIRMATION_DAYS"):
            values["certificate_confirmation_days"] = int(env["CERTIFICATE_CONFIRMATION_DAYS"])
        if env.get("MAP_TILE_URL"):
            values["map_tile_url"] = env["MAP_TILE_URL"]
        if env.get("MAP_TILE_ATTRIBUTION"):
            values["map_tile_attribution"] = env["MAP_TILE_ATTRIBUTION"]
        return cls(**values)  # type: ignore[arg-type]

    @property
    def serve_workers(self) -> int:
        """How many server processes `serve` runs.

        One per core by default on both databases. No process keeps state another could
        disagree with, so any number is correct. SQLite is safe across processes in WAL mode
        (readers never block, writers queue on the busy timeout), and one Python process tops
        out at about one core, so one per core is also the SQLite default.
        """
        if self.workers is not None:
            return self.workers
        return max(1, len(os.sched_getaffinity(0)))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
