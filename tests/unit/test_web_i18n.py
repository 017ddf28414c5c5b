"""The pages' catalogues and language choice, without a browser: every string comes from them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backend.web.i18n import LANGUAGES, load, negotiate, parse_accept_language
from backend.web.render import content_security_policy
from backend.web.session import safe_next

WEB = Path(__file__).parents[2] / "backend" / "web"
TEMPLATES = sorted((WEB / "templates").glob("*.html"))
SCRIPTS = sorted((WEB / "static" / "js").glob("*.js"))


def test_catalogues_hold_the_same_keys_and_no_empty_string() -> None:
    catalogues = load()
    assert set(catalogues) == set(LANGUAGES)
    for cat in catalogues.values():
        assert all(text.strip() for text in cat.messages.values()), cat.lang


def test_every_key_the_templates_and_scripts_use_is_in_the_catalogue() -> None:
    keys = set(load()["en"].messages)
    used: set[str] = set()
    for path in TEMPLATES:
        used |= set(re.findall(r"\bt\('([a-z_]+\.[a-z_]+)'\s*[,)]", path.read_text()))
    for path in SCRIPTS:
        used |= set(re.findall(r'\bt\("([a-z_]+\.[a-z_]+)"\s*[,)]', path.read_text()))
    assert used, "the pattern found no use at all"
    assert used - keys == set()
    # Dynamic keys: every enum value the pages translate by prefix has an entry.
    from backend.auth.models import Role
    from backend.custody.models import EventKind, LotStatus
    from backend.registry.models import LicenceStatus, SiteStatus

    for prefix, enum in (
        ("role", Role),
        ("event_kind", EventKind),
        ("lot_status", LotStatus),
        ("licence_status", LicenceStatus),
        ("site_status", SiteStatus),
    ):
        assert {f"{prefix}.{v.value}" for v in enum} <= keys, prefix
    for prefix, values in (
        ("cert.state_", ("valid", "voided", "unknown")),
        ("ev.v_", ("pass", "warn", "fail")),
        ("ev.overall_", ("pass", "warn", "fail")),
        ("dash.m_", ("purchases", "purchases_inside_licensed_site", "sites_visited")),
        ("spot.r_", ("flagged", "over_capacity", "over_production", "unvisited", "silent")),
        ("cert.payload_", ("format", "unknown_key", "signature", "no_crypto", "other_number")),
    ):
        assert {prefix + v for v in values} <= keys, prefix


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_templates_hold_no_words_of_their_own(path: Path) -> None:
    text = path.read_text()
    text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", text, flags=re.S)
    text = re.sub(r"<!doctype html>|<[^>]*>", " ", text, flags=re.S | re.I)
    assert not re.search(r"[A-Za-zÀ-ÿ]{2,}", text), re.findall(r"[A-Za-zÀ-ÿ]{2,}", text)


@pytest.mark.parametrize(
    ("asked", "cookie", "header", "expected"),
    [
        (None, None, "fr-CI,fr;q=0.9,en;q=0.5", "fr"),
        (None, None, "en-GB,en;q=0.9,fr;q=0.8", "en"),
        (None, None, "de-DE,fr;q=0.4,en;q=0.3", "fr"),
        (None, None, "en;q=0.2, fr;q=0.9", "fr"),
        (None, None, "", "en"),
        (None, "fr", "en", "fr"),
        ("en", "fr", "fr", "en"),
        ("xx", None, "fr", "fr"),
    ],
)
def test_language_is_the_switch_then_the_remembered_choice_then_the_browser(
    asked: str | None, cookie: str | None, header: str, expected: str
) -> None:
    assert negotiate(asked=asked, cookie=cookie, accept_language=header) == expected


def test_accept_language_ignores_refused_and_malformed_entries() -> None:
    assert parse_accept_language("fr;q=0, en;q=abc, , es") == ["es"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/map", "/map"),
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
        ("/\\evil", "/"),
        (None, "/"),
        ("map", "/"),
    ],
)
def test_after_sign_in_only_a_path_on_this_site_is_followed(
    target: str | None, expected: str
) -> None:
    assert safe_next(target) == expected


def test_images_come_only_from_this_site_unless_a_tile_url_is_set() -> None:
    assert "img-src 'self' data:;" in content_security_policy(None)
    policy = content_security_policy("https://{s}.tile.example.org/{z}/{x}/{y}.png")
    assert "img-src 'self' data: https://*.tile.example.org;" in policy
