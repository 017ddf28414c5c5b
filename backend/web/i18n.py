"""Message catalogues (English, French) and choosing a page's language from the request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "lang"
MESSAGES_DIR = Path(__file__).parent / "messages"


class CatalogueMismatch(Exception):
    """The catalogues do not hold the same keys: a page would show a missing string."""


@dataclass(frozen=True)
class Catalogue:
    lang: str
    messages: dict[str, str]

    def t(self, key: str, **values: Any) -> str:
        text = self.messages[key]
        return text.format(**values) if values else text


def load(directory: Path = MESSAGES_DIR) -> dict[str, Catalogue]:
    """Every language's catalogue, read once at start-up; all must have the same keys."""
    catalogues = {
        lang: Catalogue(lang, json.loads((directory / f"{lang}.json").read_text("utf-8")))
        for lang in LANGUAGES
    }
    keys = set(catalogues[DEFAULT_LANGUAGE].messages)
    for lang, cat in catalogues.items():
        if set(cat.messages) != keys:
            diff = sorted(keys.symmetric_difference(cat.messages))
            raise CatalogueMismatch(f"{lang}.json differs from {DEFAULT_LANGUAGE}.json: {diff}")
    return catalogues


def parse_accept_language(header: str) -> list[str]:
    """Primary language tags from an Accept-Language header, most preferred first."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, tag.split("-")[0]))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(*, asked: str | None, cookie: str | None, accept_language: str) -> str:
    """The switch on the page (asked), then the remembered choice, then the browser's list."""
    for choice in (asked, cookie):
        if choice in LANGUAGES:
            return choice
    for tag in parse_accept_language(accept_language):
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE
