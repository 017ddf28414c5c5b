"""Command line: serve, migrate, create-user, seed-demo, keygen, verify-certificate."""

from __future__ import annotations

import argparse
import getpass
import sys

from backend import schema
from backend.db import make_engine, session_factory
from backend.settings import Settings
from backend.sync import feed  # noqa: F401  (publishes committed changes to devices)


def _settings() -> Settings:
    return Settings.from_env()


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    engine = make_engine(settings)
    before = schema.current_revision(engine)
    schema.upgrade(engine)
    after = schema.current_revision(engine)
    where = engine.url.render_as_string(hide_password=True)
    print(f"database {where}: {before or 'empty'} -> {after}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import dataclasses

    import uvicorn

    from backend.api.http11 import ProblemH11Protocol
    from backend.certificates.keys import KeyFileError, load_keyring

    settings = _settings()
    if args.workers is not None:
        if args.workers < 1:
            print("refusing to start: --workers must be at least 1", file=sys.stderr)
            return 2
        settings = dataclasses.replace(settings, workers=args.workers)
    engine = make_engine(settings)
    try:
        schema.ensure_current(engine)
        load_keyring(settings.certificate_key_files)  # each worker loads it too
    except (schema.SchemaOutdated, KeyFileError) as err:
        print(f"refusing to start: {err}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    # Each worker process builds its own app (engine, pools) from the environment.
    uvicorn.run(
        "backend.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=settings.serve_workers,
        log_level=args.log_level,
        proxy_headers=False,
        # A request h11 cannot frame (a bad Content-Length) is answered as problem+json too.
        http=ProblemH11Protocol,
        # A worker imports the whole app before it answers; on a busy machine that takes
        # longer than uvicorn's 5 s default, which would kill and respawn it in a loop.
        timeout_worker_healthcheck=60,
    )
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from backend.auth.schemas import UserCreate
    from backend.auth.users import create_user
    from backend.errors import AppError, from_pydantic

    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.username}: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    settings = _settings()
    engine = make_engine(settings)
    schema.ensure_current(engine)
    try:
        props = UserCreate(
            username=args.username,
            password=password,
            role=args.role,
            districts=args.district or [],
            organisation_id=args.organisation,
        )
    except ValidationError as err:
        print(f"refused: {from_pydantic(err).detail}", file=sys.stderr)
        return 2
    with session_factory(engine)() as session:
        try:
            user = create_user(session=session, principal=None, props=props)
        except AppError as err:
            print(f"refused: {err.detail}", file=sys.stderr)
            return 2
    print(f"created user {user.username} ({user.role}) id {user.id}")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from backend.registry.demo import seed_demo

    settings = _settings()
    engine = make_engine(settings)
    schema.ensure_current(engine)
    with session_factory(engine)() as session:
        summary = seed_demo(session=session, settings=settings)
    if summary is None:
        print("demo country already loaded; nothing changed")
    else:
        print("loaded the demo country: " + ", ".join(f"{n} {what}" for what, n in summary.items()))
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from pathlib import Path

    from backend.certificates.keys import existing_private_key, generate

    directory = Path(args.dir)
    path = existing_private_key(directory) if args.if_missing else None
    if path is None:
        path = generate(directory)
        print(f"wrote {path} (and its public key beside it)", file=sys.stderr)
    # Standard output is the file name alone, so `CERTIFICATE_KEY_FILES=$(… keygen)` works.
    print(path)
    return 0


def cmd_verify_certificate(args: argparse.Namespace) -> int:
    from backend.certificates import offline

    return offline.main(["--public-key", args.public_key, args.payload])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API server (refuses an unmigrated database)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--workers",
        type=int,
        help="server processes (default: WEB_WORKERS, else one per core)",
    )
    serve.set_defaults(run=cmd_serve)
    sub.add_parser("migrate", help="create or upgrade the schema to this code's head").set_defaults(
        run=cmd_migrate
    )
    user = sub.add_parser(
        "create-user", help="create a user; the password is read from standard input"
    )
    user.add_argument("username")
    user.add_argument("--role", required=True)
    user.add_argument(
        "--district", action="append", help="a field officer's district code (repeatable)"
    )
    user.add_argument("--organisation", help="a buyer's or exporter's organisation id")
    user.set_defaults(run=cmd_create_user)
    sub.add_parser(
        "seed-demo", help="load the demo country (once; later runs change nothing)"
    ).set_defaults(run=cmd_seed_demo)
    keygen = sub.add_parser(
        "keygen", help="write a new Ed25519 certificate signing key; prints its file name"
    )
    keygen.add_argument("--dir", default="var/keys", help="directory for the key (var/keys)")
    keygen.add_argument(
        "--if-missing", action="store_true", help="print the newest existing key instead, if any"
    )
    keygen.set_defaults(run=cmd_keygen)
    verify = sub.add_parser(
        "verify-certificate", help="verify a certificate's QR payload offline with a public key"
    )
    verify.add_argument("--public-key", required=True, help="PEM public key or published key set")
    verify.add_argument("payload", help="the text of the QR code (KPC1.…)")
    verify.set_defaults(run=cmd_verify_certificate)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
