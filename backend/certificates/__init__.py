"""KP certificates: Annex I fields, gapless numbers, Ed25519 signatures, QR codes, printing."""
