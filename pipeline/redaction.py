"""Credentials out of everything the engine writes, logs or returns.

The rule: a value is replaced by :data:`REDACTED` when its key looks like a credential (see
:data:`CREDENTIAL_WORDS`: ``key``, ``secret``, ``token``, ``password``, ``client_kwargs`` entries
such as ``aws_secret_access_key``, ...), at any depth of a mapping; in every string, the
password of a URL's user part (``s3://key:secret@bucket`` -> ``s3://key:***@bucket``; a user part
without a password is taken whole, as it is often a token) and the values of credential-like
query parameters (``?token=``, ``X-Amz-Signature=``, ``sig=``) are replaced too. Applied to
manifests, job records, API responses, log lines and error messages; never to what decides a
run's outputs (the run id is a hash of the data and the generation settings, which hold no
credentials).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "CREDENTIAL_WORDS", "is_credential_key", "redact", "redact_text",
           "drop_redacted", "RedactingFilter"]

#: What a credential is replaced with.
REDACTED = "***"

#: A key is credential-like when, lower-cased and stripped of ``_``/``-``, it contains one of
#: these words (``aws_secret_access_key``, ``sessionToken``, ``client_secret``, ``sas_token``,
#: ``account_key``, ``Authorization``, ``signature``).
CREDENTIAL_WORDS = ("key", "secret", "token", "password", "passwd", "credential", "auth",
                    "signature", "sig", "sas", "cookie", "session", "private", "cert",
                    "connectionstring")

#: Keys that contain a credential word but hold none (shown as they are).
_HARMLESS_KEYS = frozenset({"keyprefix", "sigma", "signed", "anon", "sessiondurationseconds"})

_URL_USER = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^/\s@:'\"]*)"
                       r"(?::(?P<password>[^/\s@'\"]*))?@")
_QUERY_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[A-Za-z0-9_.\-]+)=(?P<value>[^&#\s'\")]*)")


def is_credential_key(key: object) -> bool:
    """Whether a mapping key (or query parameter name) names a credential."""
    word = re.sub(r"[\s_\-.]+", "", str(key).lower())
    if word in _HARMLESS_KEYS:
        return False
    return any(w in word for w in CREDENTIAL_WORDS)


def _user_part(match: re.Match) -> str:
    if match.group("password") is not None:
        return f"{match.group('scheme')}{match.group('user')}:{REDACTED}@"
    return f"{match.group('scheme')}{REDACTED}@"


def _query_param(match: re.Match) -> str:
    if not is_credential_key(match.group("name")) or not match.group("value"):
        return match.group(0)
    return f"{match.group('lead')}{match.group('name')}={REDACTED}"


def redact_text(text: str) -> str:
    """``text`` with URL passwords and credential-like query values replaced."""
    if "@" in text:
        text = _URL_USER.sub(_user_part, text)
    if "=" in text:
        text = _QUERY_PARAM.sub(_query_param, text)
    return text


def redact(value: Any) -> Any:
    """A copy of ``value`` (mappings, lists, strings, nested) with every credential replaced.

    Values under credential-like keys become :data:`REDACTED` (empty ones and ``None`` stay as
    they are: nothing to hide, and they show that no credential was set); every string is
    passed through :func:`redact_text`.
    """
    if isinstance(value, Mapping):
        return {k: REDACTED if is_credential_key(k) and v not in (None, "", {}, [])
                and not isinstance(v, bool) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    if isinstance(value, str):
        return redact_text(value)
    return value


def drop_redacted(value: Any) -> Any:
    """A copy of a redacted mapping without the entries that were redacted.

    What a reader of a manifest can do with its config: the credentials must come from
    elsewhere (the environment, a credentials file), not from a placeholder.
    """
    if isinstance(value, Mapping):
        return {k: drop_redacted(v) for k, v in value.items() if v != REDACTED}
    if isinstance(value, list):
        return [drop_redacted(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that passes every record through :func:`redact_text`.

    Attached to a logger (uvicorn's access log, the API's loggers), it rewrites the record's
    message, arguments included, and its traceback text, so ``?token=`` in a logged URL or a
    password in an exception's message never reaches a handler.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return True
