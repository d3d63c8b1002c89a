"""The content-addressed media store: files named by their digest only, kept whole or not at all,
never a path from outside."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from frontdesk.store.media import MediaStore, TooLarge, digest_of, reference

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_kept_file_is_named_by_its_sha256_and_reads_back(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    with store.incoming(max_bytes=10_000) as incoming:
        incoming.write(PNG[:100])
        incoming.write(PNG[100:])
        kept = incoming.keep()
    digest = hashlib.sha256(PNG).hexdigest()
    assert (kept.sha256, kept.size) == (digest, len(PNG))
    assert store.path_of(digest) == tmp_path / "media" / digest[:2] / digest
    assert store.has(digest)
    with store.open(digest) as file:
        assert file.read() == PNG
    assert files_under(tmp_path) == [store.path_of(digest)]
    assert stat.S_IMODE(store.path_of(digest).stat().st_mode) == 0o600


def test_the_same_bytes_are_kept_once(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    for _ in range(2):
        with store.incoming(max_bytes=10_000) as incoming:
            incoming.write(PNG)
            kept = incoming.keep()
    assert files_under(tmp_path) == [store.path_of(kept.sha256)]


def test_more_than_the_limit_keeps_nothing(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    with store.incoming(max_bytes=1000) as incoming:
        incoming.write(b"x" * 1000)  # exactly the limit is fine
        with pytest.raises(TooLarge):
            incoming.write(b"y")
        with pytest.raises(ValueError, match="already kept or discarded"):
            incoming.keep()
    assert files_under(tmp_path) == []


def test_a_file_not_kept_leaves_nothing_behind(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")

    def broken_download() -> None:
        with store.incoming(max_bytes=1000) as incoming:
            incoming.write(b"half a file")
            raise RuntimeError("the download broke off")

    with pytest.raises(RuntimeError):
        broken_download()
    assert files_under(tmp_path) == []


@pytest.mark.parametrize(
    "crafted",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "..",
        "",
        "A" * 64,  # upper case is not how digests are written here
        "a" * 63,
        "a" * 65,
        "g" * 64,
        "a" * 62 + "/x",
        "a" * 64 + "\n",
    ],
)
def test_no_crafted_digest_names_a_path(tmp_path: Path, crafted: str) -> None:
    store = MediaStore(tmp_path / "media")
    with pytest.raises(ValueError, match="64 lowercase hex"):
        store.path_of(crafted)
    with pytest.raises(ValueError, match="64 lowercase hex"):
        store.open(crafted)
    with pytest.raises(ValueError, match="64 lowercase hex"):
        reference(crafted)


def test_a_file_never_kept_is_not_found(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    with pytest.raises(FileNotFoundError):
        store.open("0" * 64)
    assert not store.has("0" * 64)


def test_a_reference_names_a_digest_and_nothing_else() -> None:
    digest = hashlib.sha256(PNG).hexdigest()
    assert reference(digest) == f"media:{digest}"
    assert digest_of(reference(digest)) == digest
    for other in (
        "https://platform-lookaside.fbsbx.com/pic.jpg",
        "media:../../etc/passwd",
        "media:" + digest.upper(),
        digest,
        "",
    ):
        assert digest_of(other) is None
