"""Blob storage for uploaded files, addressed by relative '/'-separated keys such as ``ab/cd/abcd….jpg``."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

from civicgrid.errors import NotFound

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_EXT_RE = re.compile(r"[a-z0-9]{1,10}")
_TMP_PREFIX = ".tmp-"


@runtime_checkable
class Storage(Protocol):
    """Where uploaded bytes live. Keys are validated by the implementation (see :func:`check_key`)."""

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, replacing any previous content atomically."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes stored under `key`; raises :class:`civicgrid.errors.NotFound` if there are none."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key`; no error if it is absent."""
        ...

    def exists(self, key: str) -> bool:
        """Whether something is stored under `key`."""
        ...


def check_key(key: str) -> list[str]:
    """Validate a storage key and return its segments; raise ValueError for anything that could escape the root.

    Refused: non-strings, empty keys, absolute keys, backslashes, NUL bytes, ``..`` anywhere,
    empty segments (``a//b``, trailing ``/``) and ``.`` segments.
    """
    if not isinstance(key, str) or not key:
        raise ValueError("storage key must be a non-empty string")
    if key.startswith("/") or "\\" in key or "\x00" in key or ".." in key:
        raise ValueError(f"invalid storage key: {key!r}")
    parts = key.split("/")
    if any(part in ("", ".") for part in parts):
        raise ValueError(f"invalid storage key: {key!r}")
    if os.path.isabs(key) or os.path.splitdrive(key)[0]:  # e.g. "C:x" on Windows
        raise ValueError(f"invalid storage key: {key!r}")
    return parts


def content_key(sha256_hex: str, ext: str) -> str:
    """Content-addressed key ``sha[:2]/sha[2:4]/sha.ext``: the same bytes always land on the same key."""
    sha = sha256_hex.lower() if isinstance(sha256_hex, str) else ""
    if not _SHA256_RE.fullmatch(sha):
        raise ValueError(f"not a SHA-256 hex digest: {sha256_hex!r}")
    ext = ext.lower().lstrip(".") if isinstance(ext, str) else ""
    if not _EXT_RE.fullmatch(ext):
        raise ValueError(f"invalid file extension: {ext!r}")
    return f"{sha[:2]}/{sha[2:4]}/{sha}.{ext}"


class LocalStorage:
    """:class:`Storage` on a local directory. Writes go to a temporary file beside the target, are fsynced and
    then renamed over it (``os.replace``), so readers never see a half-written file, even after a crash."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """The file a key maps to (validated; never outside the root, even through symlinks)."""
        path = self.root.joinpath(*check_key(key))
        if not path.resolve().is_relative_to(self.root):
            raise ValueError(f"storage key escapes the storage root: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; give the file ordinary permissions
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        _fsync_dir(path.parent)

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound("file", "文件不存在或已被删除") from None

    def delete(self, key: str) -> None:
        try:
            self.path(key).unlink()
        except (FileNotFoundError, NotADirectoryError):
            pass

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
