"""The signed QR payload: any change to a signed field or to the signature fails verification."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend.certificates import offline
from backend.certificates.keys import KeyFileError, generate, load_keyring
from backend.certificates.offline import FIELDS, VerificationFailed, b64u, sign, unb64u, verify

KEY = Ed25519PrivateKey.generate()
KID = offline.key_id(KEY.public_key())
KEYS = {KID: KEY.public_key()}
FIELDS_OK: dict[str, Any] = {
    "v": 1,
    "kid": KID,
    "no": "SL-2026-000042",
    "iss": "SL",
    "auth": "National Minerals Agency",
    "org": "SL",
    "exp": "Koidu Exporters Ltd",
    "imp": "Antwerp Rough NV",
    "dst": "BE",
    "ct": "120.55",
    "usd": "48210.00",
    "n": 1,
    "hs": "7102.31",
    "di": "2026-11-30",
    "de": "2027-01-29",
    "ev": "ab" * 32,
    "ovr": 0,
    "rep": "",
}
CHANGED: dict[str, Any] = {
    "v": 2,
    "kid": KID,  # replaced below by an unknown id
    "no": "SL-2026-000043",
    "iss": "GN",
    "auth": "Someone else",
    "org": "mixed",
    "exp": "Other Exporter",
    "imp": "Other Importer",
    "dst": "AE",
    "ct": "1200.55",
    "usd": "4821.00",
    "n": 2,
    "hs": "7102.21",
    "di": "2026-11-29",
    "de": "2027-12-29",
    "ev": "cd" * 32,
    "ovr": 1,
    "rep": "SL-2026-000001",
}


def reencode(payload: str, **changes: Any) -> str:
    """The payload with its body's fields changed and the original signature kept."""
    prefix, body, signature = payload.split(".")
    fields = json.loads(unb64u(body)) | changes
    return ".".join((prefix, b64u(offline.canonical(fields)), signature))


def test_a_signed_payload_verifies_and_returns_its_fields() -> None:
    verified = verify(sign(FIELDS_OK, KEY), KEYS)
    assert verified.fields == FIELDS_OK and verified.kid == KID


def test_changed_values_cover_every_signed_field() -> None:
    assert set(CHANGED) == set(FIELDS) and set(FIELDS_OK) == set(FIELDS)


@pytest.mark.parametrize("name", [f for f in FIELDS if f != "kid"])
def test_changing_any_signed_field_fails_verification(name: str) -> None:
    payload = sign(FIELDS_OK, KEY)
    assert CHANGED[name] != FIELDS_OK[name]
    with pytest.raises(VerificationFailed, match="signature does not match"):
        verify(reencode(payload, **{name: CHANGED[name]}), KEYS)


def test_a_payload_naming_an_unknown_key_fails() -> None:
    with pytest.raises(VerificationFailed, match="signer is unknown"):
        verify(reencode(sign(FIELDS_OK, KEY), kid="0123456789abcdef"), KEYS)


def test_a_payload_signed_by_another_key_under_our_key_id_fails() -> None:
    forged = sign(FIELDS_OK, Ed25519PrivateKey.generate())
    with pytest.raises(VerificationFailed, match="signature does not match"):
        verify(forged, KEYS)


@pytest.mark.parametrize("position", [0, 17, 40, 85])
def test_changing_the_signature_fails_verification(position: int) -> None:
    prefix, body, signature = sign(FIELDS_OK, KEY).split(".")
    raw = bytearray(unb64u(signature))
    raw[position % len(raw)] ^= 0x01
    with pytest.raises(VerificationFailed):
        verify(".".join((prefix, body, b64u(bytes(raw)))), KEYS)


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "KPC1",
        "KPC2.e30.AA",
        "KPC1.e30.AA",  # {} : not the certificate's fields
        "KPC1.!!!.AA",
        "KPC1." + b64u(b'{"v":1') + ".AA",
    ],
)
def test_malformed_payloads_fail_with_a_reason(payload: str) -> None:
    with pytest.raises(VerificationFailed):
        verify(payload, KEYS)


def test_a_non_canonical_body_with_a_valid_signature_fails() -> None:
    loose = json.dumps(FIELDS_OK, indent=1).encode()  # same fields, other bytes
    payload = f"KPC1.{b64u(loose)}.{b64u(KEY.sign(loose))}"
    with pytest.raises(VerificationFailed, match="canonical"):
        verify(payload, KEYS)


def test_offline_command_accepts_a_pem_key_or_the_published_key_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = generate(tmp_path / "keys")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    ring = load_keyring((str(path),))
    assert ring.signer is not None
    payload = sign(FIELDS_OK | {"kid": ring.signer_kid}, ring.signer)
    pem = path.with_name(path.name.replace(".pem", ".pub.pem"))
    jwks = tmp_path / "keys.json"
    jwks.write_text(json.dumps(ring.published()))
    for public in (pem, jwks):
        assert offline.main(["--public-key", str(public), payload]) == 0
        assert "VALID" in capsys.readouterr().out
    tampered = reencode(payload, ct="999.00")
    assert offline.main(["--public-key", str(jwks), tampered]) == 1
    assert capsys.readouterr().out.startswith("INVALID")


def test_a_retired_public_key_still_verifies_after_rotation(tmp_path: Path) -> None:
    old = generate(tmp_path)
    new = generate(tmp_path)
    old_ring = load_keyring((str(old),))
    assert old_ring.signer is not None
    payload = sign(FIELDS_OK | {"kid": old_ring.signer_kid}, old_ring.signer)
    retired = str(old).replace(".pem", ".pub.pem")
    rotated = load_keyring((str(new), retired))
    assert rotated.signer_kid != old_ring.signer_kid
    assert verify(payload, rotated.public).kid == old_ring.signer_kid


def test_key_files_that_cannot_sign_are_refused_at_start(tmp_path: Path) -> None:
    path = generate(tmp_path)
    with pytest.raises(KeyFileError, match="must be a private key"):
        load_keyring((str(path).replace(".pem", ".pub.pem"),))
    with pytest.raises(KeyFileError, match="cannot read"):
        load_keyring((str(tmp_path / "missing.pem"),))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    with pytest.raises(KeyFileError, match="not a PEM key"):
        load_keyring((str(junk),))


def test_the_offline_verifier_imports_nothing_of_the_server() -> None:
    code = (
        "import sys, backend.certificates.offline as o; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('backend', 'sqlalchemy', 'starlette', 'sqlmodel', 'pydantic', 'segno')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['backend', 'backend.certificates', 'backend.certificates.offline']"
