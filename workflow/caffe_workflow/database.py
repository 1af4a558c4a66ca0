"""Which FiftyOne database is configured, and a quick check that it can be used.

The ingest calls check_database() before its first query, so a stopped
mongod, a wrong host or a wrong password is one clear line within seconds
rather than a driver traceback after FiftyOne's own 30 s wait. Every message
shows the URI through mask_uri(): user and password never reach a log.

The configuration is FiftyOne's own (fo.config), read by fiftyone itself; this
module imports fiftyone and pymongo only in the functions that need them, so
importing it stays cheap.
"""

from __future__ import annotations

import urllib.parse

CHECK_TIMEOUT_MS = 3000
# FiftyOne's client waits 30 s for a server by default; if mongod dies
# between the check and the first query, fail sooner.
SELECTION_TIMEOUT_MS = 10000

# MongoDB server error codes.
_UNAUTHORIZED = 13
_AUTHENTICATION_FAILED = 18

_URI_VARIABLE = "FIFTYONE_DATABASE_URI"


class DatabaseUnreachable(RuntimeError):
    """The FiftyOne database cannot be used; the message says what to do."""


class DatabaseAuthError(DatabaseUnreachable):
    """The database refused the login, or the user lacks the rights needed."""


# ---------------------------------------------------------------- URIs


def _split_userinfo(uri: str) -> tuple[str, str | None, str]:
    """(scheme://, userinfo or None, the rest) of a MongoDB URI.

    Not pymongo.uri_parser: it rejects the unescaped passwords users write
    (and must still never show), and resolves mongodb+srv:// names in DNS."""
    from pymongo.uri_parser import SCHEME, SRV_SCHEME

    scheme = next((s for s in (SRV_SCHEME, SCHEME) if uri.lower().startswith(s)), "")
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
    from pymongo.errors import InvalidURI
    from pymongo.uri_parser import parse_userinfo

    _, userinfo, _ = _split_userinfo(uri)
    if userinfo is None:
        return None, None
    if ":" not in userinfo:
        return urllib.parse.unquote_plus(userinfo), None
    try:
        return parse_userinfo(userinfo)
    except InvalidURI:  # unescaped: what a lenient reading gives, to mask it
        user, _, password = userinfo.partition(":")
        return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)


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


def configured_uri() -> str | None:
    """The database URI FiftyOne will use (None: FiftyOne starts its own)."""
    import fiftyone as fo

    return fo.config.database_uri or None


def configured_database_name() -> str:
    import fiftyone as fo

    return fo.config.database_name


def with_selection_timeout(uri: str, timeout_ms: int = SELECTION_TIMEOUT_MS) -> str:
    """`uri` with serverSelectionTimeoutMS=timeout_ms, unless it sets one."""
    if "serverselectiontimeoutms=" in uri.lower():
        return uri
    _, _, rest = _split_userinfo(uri)
    option = f"serverSelectionTimeoutMS={timeout_ms}"
    if "?" in rest:
        return f"{uri}&{option}"
    return f"{uri}?{option}" if "/" in rest else f"{uri}/?{option}"


def configured_fiftyone():
    """`import fiftyone`, its client told to wait SELECTION_TIMEOUT_MS for a
    server (a URI option, read when FiftyOne first connects)."""
    import fiftyone as fo

    if fo.config.database_uri:
        fo.config.database_uri = with_selection_timeout(fo.config.database_uri)
    return fo


# ---------------------------------------------------------------- errors


def _reason(error: Exception, uri: str) -> str:
    text = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    return _redact(text, uri)


def describe_error(
    uri: str | None, error: Exception, database: str | None = None
) -> DatabaseUnreachable:
    """The one-line exception to raise for a driver error on `uri`
    (`database`: FiftyOne's database there; None: the configured one)."""
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
        name = database or configured_database_name()
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


def check_database(
    uri: str | None = None, database: str | None = None, timeout_ms: int = CHECK_TIMEOUT_MS
) -> None:
    """Fail fast, with one clear line, when the configured database cannot be
    used: down or wrong host (DatabaseUnreachable), wrong user or password, or
    no rights on FiftyOne's database (DatabaseAuthError).

    With no URI configured FiftyOne starts its own mongod; nothing to check.
    """
    uri = uri if uri is not None else configured_uri()
    if not uri:
        return
    database = database or configured_database_name()
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
            client[database].list_collection_names()
        finally:
            client.close()
    except (pymongo.errors.PyMongoError, ValueError) as e:
        # from None: a traceback of the driver's error could show what the
        # message masks (an invalid URI is echoed in part).
        raise describe_error(uri, e, database) from None
