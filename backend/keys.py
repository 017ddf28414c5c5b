"""The server's secret key (it signs list cursors), the same in every worker process.

It is `Settings.secret_key` when set (SECRET_KEY), else the contents of `secret_key_file`
(var/secret.key by default), which the first process that needs it creates; the file is
written whole under a temporary name and linked into place, so a process that loses the race
to create it reads the winner's key and never half a file.
"""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path

from backend.settings import Settings


def server_key(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    return _key_file(str(Path(settings.secret_key_file).resolve()))


@functools.lru_cache(maxsize=8)
def _key_file(path: str) -> bytes:
    """Read (or create, once) the key file; memoised, since the file never changes."""
    target = Path(path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(temporary, target)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            temporary.unlink()
    key = target.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"the secret key in {target} is shorter than 32 characters")
    return key.encode()
