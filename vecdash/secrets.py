"""Masking of secrets in DSNs, option lists and free text. Nothing with a password leaves vecdash unmasked.

Masking goes by shape, not by what libpq could parse: a DSN libpq rejects (or splits somewhere other
than its author meant) still has its password masked. Shapes: URI userinfo `scheme://user:PASS@` up
to the last `@` on the line (a password may hold unescaped `@`, `:`, `/`, `%`, spaces); `password=`
values, quoted ('...' with \\' escapes) or not, including `PGPASSWORD=` / `sslpassword=` lines; SQL
option lists `password 'x''y'`. Where a text quotes only a piece of a DSN (libpq's "invalid
percent-encoded token: ..."), the values `dsn_secrets` finds in the DSN are masked as known secrets.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "********"

# scheme://user: then everything up to the LAST `@` on the line (greedy): an unescaped `@` in a password
# would otherwise leave its tail visible. Over-masking an error line is the safe side.
_URI_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)(?P<pw>[^\n]*)(?=@)", re.I)
# an environment line `export PGPASSWORD=any thing`: the value runs to the end of the line
_ENV_PASSWORD = re.compile(r"^(?P<head>\s*(?:export\s+)?[A-Za-z_]*PASSWORD[A-Za-z_]*=).+$", re.M)
# password=VALUE / PGPASSWORD=VALUE / sslpassword = 'VA\'LUE' / "password": "x" / password: x
_KV_PASSWORD = re.compile(
    r"""(?P<head>\b\w*password["']?\s*[=:]\s*)"""
    r"""(?P<pw>'(?:[^'\\\n]|\\.)*(?:'|$)|"(?:[^"\\\n]|\\.)*(?:"|$)|[^\s'"][^\s]*)""",
    re.I | re.M)
# SQL option lists and ALTER ROLE: password 'x''y' / password E'x\'y' (unterminated: to the end of line)
_SQL_PASSWORD = re.compile(
    r"(?P<head>\bpassword\s+)(?P<pw>E'(?:[^'\\\n]|''|\\.)*(?:'|$)|'(?:[^'\n]|'')*(?:'|$))", re.I | re.M)

_URI_START = re.compile(r"^\s*[a-z][a-z0-9+.-]*://", re.I)
_KV_VALUE = re.compile(r"""\b\w*password\s*=\s*('(?:[^'\\]|\\.)*'?|[^\s']+)""", re.I)

SECRET_OPTION_NAMES = frozenset({"password", "passfile", "sslpassword", "sslkey"})

# a known secret shorter than this is not replaced in free text (it would mangle ordinary words)
MIN_KNOWN = 3

# Secrets of every DSN the config loader has read in this process: masked by every mask_text call,
# so a message that quotes a piece of a DSN is masked wherever it is shown, whoever built it.
_REMEMBERED: set[str] = set()


def remember(values: "list[str] | tuple[str, ...]") -> None:
    _REMEMBERED.update(v for v in values if v and len(v) >= MIN_KNOWN)


def mask_text(text: str, known: "list[str] | tuple[str, ...] | None" = None) -> str:
    """Mask passwords in URIs, conninfo strings, SQL option lists and env lines, plus any known secret values."""
    if not text:
        return text
    secrets = {s for s in known or () if s and len(s) >= MIN_KNOWN} | _REMEMBERED
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URI_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = _ENV_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = _SQL_PASSWORD.sub(lambda m: m.group("head") + f"'{MASK}'", text)
    text = _KV_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return text


def mask_options(options: dict[str, str]) -> dict[str, str]:
    """Copy of a libpq/FDW option dict with secret values replaced."""
    return {k: (MASK if k.lower() in SECRET_OPTION_NAMES else v) for k, v in options.items()}


def is_uri(dsn: str) -> bool:
    return bool(_URI_START.match(dsn or ""))


def _uri_rest(dsn: str) -> str:
    return dsn.split("://", 1)[1] if "://" in dsn else ""


def has_password_shape(dsn: str) -> bool:
    """Whether a DSN may hold a password, judged by its text alone (no libpq)."""
    if not dsn:
        return False
    if "password" in dsn.lower():
        return True
    if is_uri(dsn):
        rest = _uri_rest(dsn)
        at = rest.rfind("@")
        return at > 0 and ":" in rest[:at]
    return False


def dsn_secrets(dsn: str | None) -> list[str]:
    """Every value in a DSN's text that may be its password, raw and percent-decoded.

    Found by shape, so a DSN libpq rejects (or would split at another `@` than its author meant) still
    yields what a libpq message could quote: the userinfo password up to the first `@` (libpq's
    reading) and up to the last `@` (the author's), and each `password=` value, quoted or not.
    """
    if not dsn:
        return []
    found: list[str] = []
    if is_uri(dsn):
        rest = _uri_rest(dsn)
        first_at, last_at = rest.find("@"), rest.rfind("@")
        for end in {first_at, last_at} - {-1}:
            userinfo = rest[:end]
            if ":" in userinfo:
                found.append(userinfo.split(":", 1)[1])
    for m in _KV_VALUE.finditer(dsn):
        value = m.group(1)
        found.append(value)
        if value.startswith("'"):
            inner = value[1:-1] if value.endswith("'") and len(value) > 1 else value[1:]
            found += [inner, re.sub(r"\\(.)", r"\1", inner)]
    try:
        from psycopg import conninfo as pg_conninfo

        info = pg_conninfo.conninfo_to_dict(dsn)
        found += [str(info[k]) for k in ("password", "sslpassword") if info.get(k)]
    except Exception:  # noqa: BLE001 - an unparseable DSN: the shapes above are all there is
        pass
    out: list[str] = []
    for value in found:
        for v in (value, unquote(value, errors="replace")):
            if v and v not in out:
                out.append(v)
    return out


def uri_misread(dsn: str) -> bool:
    """Whether libpq would read a URI's userinfo differently from its text: an unencoded `@` after it.

    libpq ends the userinfo at the first `@` or `/`; a password holding `@` or `/` then lends its tail
    to the host or database name, where connection errors would quote it.
    """
    if not is_uri(dsn):
        return False
    rest = _uri_rest(dsn)
    ends = [i for i in (rest.find("@"), rest.find("/")) if i >= 0]
    start = min(ends) if ends else len(rest)
    if start < len(rest) and rest[start] == "@":
        start += 1
    tail = rest[start:]
    query = tail.find("?")
    return "@" in (tail if query < 0 else tail[:query])


def mask_libpq_message(message: str, dsn: str) -> str:
    """libpq's complaint about `dsn`, safe to show: quoted pieces masked when the DSN may hold a password."""
    text = message.strip().splitlines()[0] if message.strip() else "invalid"
    if has_password_shape(dsn) and '"' in text:
        # libpq quotes pieces of the DSN ("invalid percent-encoded token: ..."), and a piece may hold
        # quotes itself: everything from the first quote to the last goes
        first, last = text.find('"'), text.rfind('"')
        text = text[:first] + f'"{MASK}"' + (text[last + 1:] if last > first else "")
    return mask_text(text, dsn_secrets(dsn))
