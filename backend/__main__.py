"""Command line: `python -m backend serve|migrate|create-user|seed-demo`."""

from __future__ import annotations

import argparse
import getpass
import sys

from backend import schema
from backend.db import make_engine, session_factory
from backend.settings import Settings


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

    settings = _settings()
    if args.workers is not None:
        if args.workers < 1:
            print("refusing to start: --workers must be at least 1", file=sys.stderr)
            return 2
        settings = dataclasses.replace(settings, workers=args.workers)
    engine = make_engine(settings)
    try:
        schema.ensure_current(engine)
    except schema.SchemaOutdated as err:
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
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
