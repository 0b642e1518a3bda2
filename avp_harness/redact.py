"""One redaction helper for everything that is stored or shown.

API keys are registered when a provider client is made (`register_secret`); `redact` replaces
them, and the password of any URL (`postgresql://user:pw@host/db`), with `***`. The store applies
it to every text it writes; the CLI and the TUI to every store URL and error line they show.
"""

from __future__ import annotations

import re

MASK = "***"
_MIN_SECRET = 6  # shorter values would mask ordinary words
_secrets: set[str] = set()
_URL_PASSWORD = re.compile(r"([A-Za-z][\w+.-]*://[^\s/:@]*:)([^\s@/]+)(@)")


def register_secret(value: str | None) -> None:
    """Remember a secret (an API key, a password) so that `redact` hides it from now on."""
    if value and len(value) >= _MIN_SECRET:
        _secrets.add(value)


def redact(text: str) -> str:
    """`text` without any registered secret and without URL passwords."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", text)


def redact_url(url: str) -> str:
    """A store path or URL as it may be shown (the password masked)."""
    return _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", url)
