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
        ):
            if env.get(name.upper()):
                values[name] = int(env[name.upper()])
        if env.get("SPATIALITE_LIBRARY_PATH"):
            values["spatialite_library"] = env["SPATIALITE_LIBRARY_PATH"]
        return cls(**values)  # type: ignore[arg-type]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
