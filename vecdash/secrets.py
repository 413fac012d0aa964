"""Masking of secrets in DSNs, option lists and free text. Nothing with a password leaves vecdash unmasked."""

from __future__ import annotations

import re

MASK = "********"

_URI_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?=@)", re.I)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s]+)", re.I)
_SQL_PASSWORD = re.compile(r"(?P<head>\bpassword\s+)(?P<pw>'(?:[^']|'')*')", re.I)

SECRET_OPTION_NAMES = frozenset({"password", "passfile", "sslpassword", "sslkey"})


def mask_text(text: str, known: "list[str] | tuple[str, ...] | None" = None) -> str:
    """Mask passwords in URIs, conninfo strings and SQL option lists, plus any known secret values."""
    if not text:
        return text
    text = _URI_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = _KV_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = _SQL_PASSWORD.sub(lambda m: m.group("head") + f"'{MASK}'", text)
    for secret in known or ():
        if secret and len(secret) >= 3:
            text = text.replace(secret, MASK)
    return text


def mask_options(options: dict[str, str]) -> dict[str, str]:
    """Copy of a libpq/FDW option dict with secret values replaced."""
    return {k: (MASK if k.lower() in SECRET_OPTION_NAMES else v) for k, v in options.items()}
