"""Secrets by reference only: ``{env: NAME}`` or ``{file: PATH}``, resolved when a connection opens.

An inline secret (a password, token, client secret, private key, or a URL that carries a
password) is refused at load. Resolution returns :class:`pydantic.SecretStr` values and names
the reference, never the value, when it fails.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tandem.config.issues import Path as IssuePath
from tandem.errors import ConfigError

logger = logging.getLogger(__name__)

_SECRET_KEY = re.compile(
    r"(?:^|_)(?:password|passwd|pwd|secret|token|api_?key|private_key|passphrase)$", re.IGNORECASE
)
URL_WITH_PASSWORD = (
    r"^\s*[A-Za-z][A-Za-z0-9+.\-]*://"
    r"(?:[^/@\s:]*:(?!\d*/)[^@\s]+@"
    r"|[^\s#]*[?&][^=&#\s]*(?:password|passwd|pwd|secret|token|api_?key|private_key|passphrase)"
    r"[^=&#\s]*=[^&#\s])"
)
"""A URL that carries a password, as a regular expression: ``scheme://user:password@host``
(SQLAlchemy takes everything up to the ``@`` as the password, ``/`` included, so only a port
followed by a path is told apart) or a secret in the query (``?password=``, ``&sslpassword=``,
``?access_token=``), which no "password hidden" rendering of the URL hides."""
_URL_WITH_PASSWORD = re.compile(URL_WITH_PASSWORD)
_PATH_KEY = re.compile(r"(?:_file|_path|_dir)$")


class EnvRef(BaseModel):
    """A secret read from an environment variable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    env: str = Field(min_length=1, description="Name of the environment variable.")


class FileRef(BaseModel):
    """A secret read from a file (relative paths are relative to the config file's folder)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    file: str = Field(min_length=1, description="Path of the file holding the secret.")


SecretRef = EnvRef | FileRef


def is_reference(value: Any) -> bool:
    """Tell whether a raw setting is a ``{env: NAME}`` or ``{file: PATH}`` reference."""
    return (
        isinstance(value, Mapping)
        and len(value) == 1
        and next(iter(value)) in ("env", "file")
        and isinstance(next(iter(value.values())), str)
        and bool(next(iter(value.values())))
    )


def is_secret_key(name: str) -> bool:
    """Tell whether a setting's name says it holds a secret (``password``, ``client_secret``...)."""
    return bool(_SECRET_KEY.search(name))


def has_url_password(value: str) -> bool:
    """Tell whether a URL carries a password (``scheme://user:password@host``, ``?password=``)."""
    return bool(_URL_WITH_PASSWORD.match(value.strip()))


def find_inline_secrets(settings: Any, path: IssuePath = ()) -> list[tuple[IssuePath, str]]:
    """Find secrets written inline in a settings tree.

    Returns:
        (path, message) pairs; the message never repeats the secret.
    """
    found: list[tuple[IssuePath, str]] = []
    if isinstance(settings, Mapping):
        if ("env" in settings or "file" in settings) and not is_reference(settings):
            found.append((path, "a secret reference is exactly {env: NAME} or {file: PATH}"))
            return found
        if is_reference(settings):
            return found
        for key, value in settings.items():
            sub = (*path, str(key))
            if is_secret_key(str(key)) and value is not None and not is_reference(value):
                found.append((sub, "secrets are never inline: use {env: NAME} or {file: PATH}"))
            else:
                found.extend(find_inline_secrets(value, sub))
    elif isinstance(settings, list):
        for index, item in enumerate(settings):
            found.extend(find_inline_secrets(item, (*path, index)))
    elif isinstance(settings, str) and has_url_password(settings):
        found.append(
            (path, "this URL carries a password: put the whole URL in {env: NAME} or {file: PATH}")
        )
    return found


def resolve_reference(
    ref: Mapping[str, str],
    base_dir: Path,
    *,
    file: str | None,
    field: str,
    line: int | None = None,
) -> SecretStr:
    """Read the secret a reference points to.

    Args:
        ref: ``{"env": NAME}`` or ``{"file": PATH}``.
        base_dir: the folder relative file paths start from.
        file: the config file, for the error.
        field: the dotted setting path, for the error.
        line: the line of that setting in ``file``, for the error.

    Raises:
        ConfigError: the variable is unset or empty, or the file unreadable or empty (the
            reference is named, never a value).
    """
    kind: Literal["env", "file"] = "env" if "env" in ref else "file"
    target = ref[kind]
    if kind == "env":
        value = os.environ.get(target)
        if value is None:
            raise ConfigError(
                f"environment variable {target} is not set", file=file, line=line, field=field
            )
        if not value.strip():
            raise ConfigError(
                f"environment variable {target} is empty", file=file, line=line, field=field
            )
        return SecretStr(value)
    path = Path(target)
    if not path.is_absolute():
        path = base_dir / path
    try:
        # utf-8-sig: an editor's byte-order mark is not part of the secret (it failed the login
        # with a password that looked right)
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"secret file {path} cannot be read: {reason}", file=file, line=line, field=field
        ) from None
    except UnicodeDecodeError:  # not a ConfigError, and its message names a byte of the secret
        raise ConfigError(
            f"secret file {path} is not UTF-8 text", file=file, line=line, field=field
        ) from None
    _warn_if_shared(path)
    secret = text.rstrip("\r\n")
    if not secret.strip():
        raise ConfigError(f"secret file {path} is empty", file=file, line=line, field=field)
    return SecretStr(secret)


def _warn_if_shared(path: Path) -> None:
    """Warn when other users of the machine may read or change a secret file (POSIX)."""
    if os.name != "posix":
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        logger.warning(
            "secret file %s can be read or changed by other users of this machine "
            "(mode %03o): make it the agent user's alone (chmod 600)",
            path,
            mode & 0o777,
        )


def absolutise(key: str, value: Any, base_dir: Path) -> Any:
    """Make file-path settings (``*_file``, ``*_path``, ``*_dir``) and SQLite URLs absolute."""
    if not isinstance(value, str):
        return value
    if _PATH_KEY.search(key) and value and not Path(value).is_absolute():
        return str((base_dir / value).resolve())
    return sqlite_absolute(value, base_dir)


def sqlite_absolute(url: str, base_dir: Path) -> str:
    """Turn ``sqlite:///relative.db`` into an absolute-path URL under ``base_dir``."""
    match = re.match(r"^(sqlite(?:\+\w+)?):///(?!/)(.+)$", url)
    if not match or match.group(2).startswith((":memory:", "file:")):
        return url  # a `file:` URI (``?uri=true``) names its path itself
    return f"{match.group(1)}:///{(base_dir / match.group(2)).resolve()}"


__all__ = [
    "URL_WITH_PASSWORD",
    "EnvRef",
    "FileRef",
    "SecretRef",
    "absolutise",
    "find_inline_secrets",
    "has_url_password",
    "is_reference",
    "is_secret_key",
    "resolve_reference",
    "sqlite_absolute",
]
