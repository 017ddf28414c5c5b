"""Why a certificate is refused, mapped onto the backend's error tree.

AppError
 ├── NotFound                 404  (backend.errors)
 └── CertificateRefused       409  certificate-refused     (the field at fault is named)
      ├── EvidenceFails       409  evidence-fails          (`failing_checks` lists them)
      └── SigningKeyMissing   409  signing-key-missing     (names CERTIFICATE_KEY_FILES)
"""

from __future__ import annotations

from typing import Any

from backend.errors import AppError, FieldError


class CertificateRefused(AppError):
    status, code, title = 409, "certificate-refused", "The certificate cannot be issued or changed"

    def __init__(self, pointer: str, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail, errors=[FieldError(pointer, detail)], extra=extra)


class EvidenceFails(CertificateRefused):
    code, title = "evidence-fails", "The evidence report fails; issuance needs a reasoned override"


class SigningKeyMissing(CertificateRefused):
    code, title = "signing-key-missing", "No certificate signing key is configured"
