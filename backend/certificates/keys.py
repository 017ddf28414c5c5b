"""Signing keys: made by `keygen`, named in `CERTIFICATE_KEY_FILES`, the first one signs.

Each file is a PEM Ed25519 key. A private key can sign and publishes its public half; a public
key file (a retired signer's) is only published, so certificates it signed still verify after
rotation. Keys are read once at start-up; a key id is the first 8 bytes of the SHA-256 of the
raw public key (see `offline.key_id`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from backend.certificates.offline import key_id, public_jwk

SETTING = "CERTIFICATE_KEY_FILES"


class KeyFileError(Exception):
    """A key file named in the settings cannot be read as an Ed25519 key."""


@dataclass(frozen=True)
class KeyRing:
    signer: Ed25519PrivateKey | None
    signer_kid: str | None
    public: dict[str, Ed25519PublicKey]

    def published(self) -> dict[str, object]:
        return {"keys": [public_jwk(k) for k in self.public.values()]}


EMPTY = KeyRing(signer=None, signer_kid=None, public={})


def _load(path: Path) -> Ed25519PrivateKey | Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{SETTING}: cannot read {path}: {exc.strerror}") from exc
    try:
        if b"PRIVATE KEY" in data:
            key: object = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{SETTING}: {path} is not a PEM key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        raise KeyFileError(f"{SETTING}: {path} is not an Ed25519 key")
    return key


def load_keyring(files: tuple[str, ...]) -> KeyRing:
    """The first file must be a private key (the signer); the rest are published too."""
    if not files:
        return EMPTY
    loaded = [_load(Path(f)) for f in files]
    first = loaded[0]
    if not isinstance(first, Ed25519PrivateKey):
        raise KeyFileError(f"{SETTING}: the first file, {files[0]}, must be a private key")
    public: dict[str, Ed25519PublicKey] = {}
    for key in loaded:
        pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
        public[key_id(pub)] = pub
    return KeyRing(signer=first, signer_kid=key_id(first.public_key()), public=public)


def generate(directory: Path) -> Path:
    """A new private key in `<dir>/<kid>.pem` (mode 0600), its public key in `<kid>.pub.pem`."""
    key = Ed25519PrivateKey.generate()
    kid = key_id(key.public_key())
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{kid}.pem"
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    (directory / f"{kid}.pub.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def existing_private_key(directory: Path) -> Path | None:
    """The newest private key file in `directory`, if any (for `keygen --if-missing`)."""
    if not directory.is_dir():
        return None
    found = [p for p in directory.glob("*.pem") if not p.name.endswith(".pub.pem")]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None
