"""Which FiftyOne database is configured, and a quick check that it can be used.

The ingest calls check_database() before it imports fiftyone (~4 s), so a
stopped mongod, a wrong host or a wrong password is one clear line within
seconds. Every message shows the URI through mask_uri(): user and password
never reach a log.

This module must not import fiftyone, and imports pymongo only when it checks.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse

CHECK_TIMEOUT_MS = 3000

# MongoDB server error codes.
_UNAUTHORIZED = 13
_AUTHENTICATION_FAILED = 18

_URI_VARIABLE = "FIFTYONE_DATABASE_URI"
_DEFAULT_DATABASE_NAME = "fiftyone"  # FiftyOne's own default

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


class DatabaseUnreachable(RuntimeError):
    """The FiftyOne database cannot be used; the message says what to do."""


class DatabaseAuthError(DatabaseUnreachable):
    """The database refused the login, or the user lacks the rights needed."""


# ---------------------------------------------------------------- URIs


def _split_userinfo(uri: str) -> tuple[str, str | None, str]:
    """(scheme://, userinfo or None, the rest) of a MongoDB URI."""
    match = _SCHEME.match(uri)
    scheme = match.group(0) if match else ""
    rest = uri[len(scheme) :]
    # The userinfo ends at the last '@' of the authority. A raw '@', ':', '/'
    # or '?' in a password (it should be percent-encoded, but users forget)
    # must not leak either: take the last '@' before the options, else the
    # last '@' at all. Masking too much only hides part of a host name.
    at = rest.split("?", 1)[0].rfind("@")
    if at < 0:
        at = rest.rfind("@")
    if at < 0:
        return scheme, None, rest
    return scheme, rest[:at], rest[at + 1 :]


def mask_uri(uri: str) -> str:
    """The URI with its whole userinfo (user and password) replaced by ***.

    Handles several hosts, options, mongodb+srv:// and passwords holding
    percent-encoded (or raw) '@', ':' and '/'.
    """
    scheme, userinfo, rest = _split_userinfo(uri)
    return uri if userinfo is None else f"{scheme}***@{rest}"


def _credentials(uri: str) -> tuple[str | None, str | None]:
    """(user, password), decoded as pymongo decodes them; None where absent."""
    _, userinfo, _ = _split_userinfo(uri)
    if userinfo is None:
        return None, None
    user, sep, password = userinfo.partition(":")
    unquote = urllib.parse.unquote_plus
    return unquote(user), (unquote(password) if sep else None)


def _redact(text: str, uri: str) -> str:
    """`text` (a driver's message) with anything secret from `uri` masked."""
    _, userinfo, _ = _split_userinfo(uri)
    if userinfo is None:
        return text
    _, password = _credentials(uri)
    secrets = {userinfo, userinfo.partition(":")[2], password}
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# ---------------------------------------------------------------- configuration


def _fiftyone_config() -> dict:
    """FiftyOne's config file, read the way FiftyOne finds it (without it)."""
    path = os.environ.get("FIFTYONE_CONFIG_PATH") or os.path.expanduser("~/.fiftyone/config.json")
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def configured_uri() -> str | None:
    """The database URI FiftyOne will use (None: FiftyOne starts its own)."""
    return os.environ.get(_URI_VARIABLE) or _fiftyone_config().get("database_uri") or None


def _configured_database_name() -> str:
    return (
        os.environ.get("FIFTYONE_DATABASE_NAME")
        or _fiftyone_config().get("database_name")
        or _DEFAULT_DATABASE_NAME
    )


# ---------------------------------------------------------------- errors


def _reason(error: Exception, uri: str) -> str:
    text = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    return _redact(text, uri)


def describe_error(uri: str | None, error: Exception) -> DatabaseUnreachable:
    """The one-line exception to raise for a driver error on `uri`."""
    where = mask_uri(uri) if uri else "the FiftyOne-managed local database"
    code = getattr(error, "code", None)
    if uri and code == _AUTHENTICATION_FAILED:
        user, _ = _credentials(uri)
        who = f"user {user!r}" if user else "the login"
        return DatabaseAuthError(
            f"authentication failed for {who} at {where}; check the user and "
            f"password (and authSource, the database that holds the user) in {_URI_VARIABLE}"
        )
    if uri and code == _UNAUTHORIZED:
        user, _ = _credentials(uri)
        name = _configured_database_name()
        if not user:
            return DatabaseAuthError(
                f"the FiftyOne database at {where} requires a login; put a user and "
                f"password in {_URI_VARIABLE} "
                "(mongodb://USER:PASSWORD@host:port/?authSource=admin)"
            )
        return DatabaseAuthError(
            f"user {user!r} may not use database {name!r} at {where} "
            f"({_reason(error, uri)}); it needs the role readWrite on {name!r}"
        )
    return DatabaseUnreachable(
        f"cannot reach the FiftyOne database at {where} ({_reason(error, uri or '')}); "
        f"start mongod there, or fix {_URI_VARIABLE}, then rerun"
    )


# ---------------------------------------------------------------- check


def check_database(uri: str | None = None, timeout_ms: int = CHECK_TIMEOUT_MS) -> None:
    """Fail fast, with one clear line, when the configured database cannot be
    used: down or wrong host (DatabaseUnreachable), wrong user or password, or
    no rights on FiftyOne's database (DatabaseAuthError).

    With no URI configured FiftyOne starts its own mongod; nothing to check.
    """
    uri = uri if uri is not None else configured_uri()
    if not uri:
        return
    import pymongo
    import pymongo.errors

    try:
        client = pymongo.MongoClient(
            uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
        )
        try:
            # The first command logs in, so a wrong password fails here.
            client.admin.command("ping")
            # ping needs no rights; listing FiftyOne's collections needs a
            # login with a role on its database (readWrite includes it).
            client[_configured_database_name()].list_collection_names()
        finally:
            client.close()
    except (pymongo.errors.PyMongoError, ValueError) as e:
        # from None: a traceback of the driver's error could show what the
        # message masks (an invalid URI is echoed in part).
        raise describe_error(uri, e) from None
