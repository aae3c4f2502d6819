"""URLs as they may be shown to clients and written to logs: never with their credentials.

Operators write credentials into URLs (``http://user:pass@host/v1``, ``?api_key=…``), and every
place that names a URL (an error message, a log line, an exception from httpx or the hub) would
repeat them. :func:`redact_url` is the one way a URL is shown; :func:`redact_urls` applies it to
every URL inside free text, and the log processor runs it on every line as a safety net.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"
_SECRET_QUERY_KEY = re.compile(
    r"(?i)(key|token|secret|password|passwd|pwd|auth|signature|sig|credential)"
)
# scheme://… up to whitespace or a character that ends a URL quoted in prose or JSON
_URL_IN_TEXT = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s\"'<>`]+")


def redact_url(url: str) -> str:
    """``url`` with its user, password and secret-looking query values replaced by ``***``.

    ``http://user:pass@host:8080/v1?api_key=k&x=1`` -> ``http://***@host:8080/v1?api_key=***&x=1``.
    Text that does not parse as a URL comes back unchanged.
    """
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port, like the clients that would use the URL
    except ValueError:
        return _without_userinfo(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_QUERY_KEY.search(key) for key, _ in pairs):
            query = urlencode(
                [(key, REDACTED if _SECRET_QUERY_KEY.search(key) else v) for key, v in pairs],
                safe="*",
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _without_userinfo(url: str) -> str:
    """The userinfo cut out of text that ``urlsplit`` rejects (a bad port, a bad IPv6 host)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = f"{REDACTED}@{authority.rpartition('@')[2]}"
    return f"{scheme}{sep}{authority}{slash}{tail}"


def redact_urls(text: str) -> str:
    """Every URL in ``text`` (a message, an exception's string) through :func:`redact_url`."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group()), text)
