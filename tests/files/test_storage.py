"""LocalStorage: round trip, atomic writes, key validation, content-addressed keys."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from civicgrid.errors import NotFound
from civicgrid.files.storage import LocalStorage, Storage, content_key

SHA = hashlib.sha256(b"photo").hexdigest()


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files")


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)).replace(os.sep, "/") for p in root.rglob("*") if p.is_file())


def test_is_a_storage(storage: LocalStorage) -> None:
    assert isinstance(storage, Storage)


def test_round_trip(storage: LocalStorage) -> None:
    key = content_key(SHA, "jpg")
    assert not storage.exists(key)
    storage.put(key, b"photo")
    assert storage.exists(key)
    assert storage.get(key) == b"photo"
    assert (storage.root / SHA[:2] / SHA[2:4] / f"{SHA}.jpg").read_bytes() == b"photo"

    storage.put(key, b"replaced")
    assert storage.get(key) == b"replaced"

    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)  # absent: no error
    storage.delete("never/was/here.jpg")


def test_get_missing_raises_not_found(storage: LocalStorage) -> None:
    with pytest.raises(NotFound) as excinfo:
        storage.get("ab/cd/missing.jpg")
    assert excinfo.value.status == 404


def test_directories_are_not_files(storage: LocalStorage) -> None:
    storage.put("ab/cd/x.jpg", b"1")
    assert not storage.exists("ab/cd")
    with pytest.raises(NotFound):
        storage.get("ab")


def test_atomic_write_leaves_no_temp_files(storage: LocalStorage) -> None:
    for i in range(3):
        storage.put(f"ab/cd/{i}.jpg", b"x" * 100_000)
    assert all_files(storage.root) == ["ab/cd/0.jpg", "ab/cd/1.jpg", "ab/cd/2.jpg"]


def test_failed_write_keeps_old_content_and_no_temp_file(storage: LocalStorage,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    storage.put("ab/cd/a.jpg", b"old")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        storage.put("ab/cd/a.jpg", b"new content")
    monkeypatch.undo()
    assert storage.get("ab/cd/a.jpg") == b"old"
    assert all_files(storage.root) == ["ab/cd/a.jpg"]


@pytest.mark.parametrize("key", [
    "", "/etc/passwd", "../outside.jpg", "ab/../../outside.jpg", "ab/..", "..", "ab\\cd.jpg",
    "ab//cd.jpg", "ab/cd/", "./ab.jpg", "ab/./cd.jpg", "a\x00b.jpg", "ab/cd/..hidden",
])
def test_unsafe_keys_are_rejected(storage: LocalStorage, key: str) -> None:
    for operation in (lambda: storage.put(key, b"x"), lambda: storage.get(key),
                      lambda: storage.exists(key), lambda: storage.delete(key)):
        with pytest.raises(ValueError):
            operation()
    assert not (storage.root.parent / "outside.jpg").exists()


def test_symlink_out_of_root_is_rejected(storage: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    storage.root.mkdir(parents=True)
    try:
        (storage.root / "ab").symlink_to(outside, target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("symlinks not available")
    with pytest.raises(ValueError):
        storage.put("ab/x.jpg", b"x")
    assert not any(outside.iterdir())


def test_content_key_layout() -> None:
    assert content_key(SHA, "jpg") == f"{SHA[:2]}/{SHA[2:4]}/{SHA}.jpg"
    assert content_key(SHA.upper(), ".PNG") == f"{SHA[:2]}/{SHA[2:4]}/{SHA}.png"
    for bad_sha in ("", "abc", SHA[:-1], SHA[:-1] + "g", "../" + SHA[3:]):
        with pytest.raises(ValueError):
            content_key(bad_sha, "jpg")
    for bad_ext in ("", "j/g", "../x", "jp g"):
        with pytest.raises(ValueError):
            content_key(SHA, bad_ext)


def test_same_content_same_key(storage: LocalStorage) -> None:
    key1 = content_key(hashlib.sha256(b"same").hexdigest(), "jpg")
    key2 = content_key(hashlib.sha256(b"same").hexdigest(), "jpg")
    storage.put(key1, b"same")
    storage.put(key2, b"same")
    assert key1 == key2 and len(all_files(storage.root)) == 1
