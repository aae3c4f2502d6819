"""URL credentials are never shown: one helper, for single URLs and for URLs inside text."""

from __future__ import annotations

import pytest

from voxgate import redact_url, redact_urls
from voxgate.logging import redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pass@host/v1", "http://***@host/v1"),
        ("https://token@host:8443/v1", "https://***@host:8443/v1"),
        ("redis://:p%40ss@cache:6379/0", "redis://***@cache:6379/0"),
        ("http://host/v1?api_key=k&model=x", "http://host/v1?api_key=***&model=x"),
        ("http://host/v1?access_token=t", "http://host/v1?access_token=***"),
        ("http://host:11434/v1", "http://host:11434/v1"),
        ("http://u:p@host:notaport/v1", "http://***@host:notaport/v1"),
        ("not a url", "not a url"),
        ("", ""),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_urls_inside_text_are_redacted():
    text = "cannot reach http://u:pw@a.example/v1 (nor `https://k@b.example`), see http://c/x."
    assert redact_urls(text) == (
        "cannot reach http://***@a.example/v1 (nor `https://***@b.example`), see http://c/x."
    )


def test_every_log_line_loses_url_credentials():
    event = redact(None, "warning", {"event": "GET http://u:pw@h/v1 failed", "url": "x://a:b@c"})
    assert "pw" not in event["event"]
    assert event["url"] == "x://***@c"
