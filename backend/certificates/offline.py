"""The signed certificate payload and its offline verifier; imports only `cryptography`.

A QR payload is ASCII: `KPC1.<base64url(body)>.<base64url(signature)>` where `body` is the
certificate's signed fields as compact JSON with sorted keys (UTF-8), and `signature` is the
Ed25519 signature over the exact bytes of `body`. `body["kid"]` names the key that signed it.

Run with only a public key (PEM, or the published key set JSON) and the payload:

    python -m backend.certificates.offline --public-key keys.json 'KPC1.eyJ...'

This file imports nothing else of the backend, so it can be copied next to a verifier's
Python and run on its own.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "KPC1"
# The signed fields, short names to keep the QR code small (each described in docs/certificates.md).
FIELDS = (
    "v",  # payload format version (1)
    "kid",  # key id
    "no",  # certificate number
    "iss",  # issuing country (ISO 3166-1 alpha-2)
    "auth",  # issuing authority
    "org",  # country of origin, or "mixed"
    "exp",  # exporter (name)
    "imp",  # importer (name)
    "dst",  # destination country (ISO alpha-2)
    "ct",  # carat weight, decimal string
    "usd",  # value in USD, decimal string
    "n",  # number of parcels
    "hs",  # HS code
    "di",  # date of issue (YYYY-MM-DD)
    "de",  # date of expiry (YYYY-MM-DD)
    "ev",  # evidence report digest (SHA-256, hex)
    "ovr",  # 1 when issued on an override of failing evidence, else 0
    "rep",  # number of the voided certificate this one replaces, or ""
)


class VerificationFailed(Exception):
    """The payload is malformed, its key is unknown, or its signature does not hold."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 8 bytes of the SHA-256 of the raw public key, hex: stable and short."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    if not text or any(c not in _B64U for c in text):
        raise VerificationFailed("the payload is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise VerificationFailed("the payload is not base64url") from exc


_B64U = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed: every field of FIELDS, compact JSON, sorted keys."""
    missing = [f for f in FIELDS if f not in fields]
    extra = [f for f in fields if f not in FIELDS]
    if missing or extra:
        raise ValueError(f"payload fields missing {missing} or unknown {extra}")
    return json.dumps(
        dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def sign(fields: Mapping[str, Any], private_key: Ed25519PrivateKey) -> str:
    body = canonical(fields)
    return f"{PREFIX}.{b64u(body)}.{b64u(private_key.sign(body))}"


@dataclass(frozen=True)
class Verified:
    fields: dict[str, Any]
    kid: str


def verify(payload: str, keys: Mapping[str, Ed25519PublicKey]) -> Verified:
    """The payload's fields if its signature holds under the key it names; else raises."""
    parts = payload.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise VerificationFailed(f"the payload is not {PREFIX}.<body>.<signature>")
    body, signature = unb64u(parts[1]), unb64u(parts[2])
    try:
        fields = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VerificationFailed("the payload body is not JSON") from exc
    if not isinstance(fields, dict) or set(fields) != set(FIELDS):
        raise VerificationFailed("the payload does not carry exactly the certificate's fields")
    kid = fields["kid"]
    if not isinstance(kid, str) or kid not in keys:
        raise VerificationFailed(f"no public key with id {kid!r}: the signer is unknown")
    # Bytes that are not the canonical form of their own fields are refused, so one
    # certificate has one payload and nothing unsigned can ride along.
    if canonical(fields) != body:
        raise VerificationFailed("the payload body is not in canonical form")
    try:
        keys[kid].verify(signature, body)
    except InvalidSignature as exc:
        raise VerificationFailed("the signature does not match the certificate's fields") from exc
    return Verified(fields=fields, kid=kid)


def public_key_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise ValueError("not an Ed25519 JWK (kty OKP, crv Ed25519, x)")
    return Ed25519PublicKey.from_public_bytes(unb64u(jwk["x"]))


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
        "kid": key_id(public_key),
        "x": b64u(raw),
    }


def load_public_keys(data: bytes) -> dict[str, Ed25519PublicKey]:
    """Keys by id from a PEM public key, or a JSON key set as published at the well-known URL."""
    text = data.strip()
    if text.startswith(b"{"):
        document = json.loads(text)
        keys = [public_key_from_jwk(k) for k in document.get("keys", [])]
    else:
        key = serialization.load_pem_public_key(text)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the PEM key is not an Ed25519 public key")
        keys = [key]
    return {key_id(k): k for k in keys}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.certificates.offline",
        description="Verify a KP certificate's QR payload offline, with only a public key.",
    )
    parser.add_argument(
        "--public-key",
        required=True,
        type=Path,
        help="PEM public key, or the key set saved from /.well-known/kp-certificate-keys.json",
    )
    parser.add_argument("payload", help="the text of the QR code (KPC1.…)")
    args = parser.parse_args(argv)
    try:
        keys = load_public_keys(args.public_key.read_bytes())
    except (OSError, ValueError) as exc:
        print(f"cannot read the public key: {exc}", file=sys.stderr)
        return 2
    try:
        verified = verify(args.payload, keys)
    except VerificationFailed as exc:
        print(f"INVALID: {exc}")
        return 1
    print(f"VALID: signed by key {verified.kid}")
    print(json.dumps(verified.fields, indent=2, sort_keys=True, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
