"""Media files on disk, content-addressed: a file's name is the sha256 of its bytes.

Layout under the root (`<data dir>/media/`): `ab/abcdef…` (the digest, sharded by its first two
hex digits) for kept files, `incoming/` for files being written (and for a file being pruned,
for an instant). No part of a path ever comes from outside input: only a digest this module
computed, or one `path_of` checked to be 64 hex digits. Identical bytes are kept once. Files are
written with mode 0600 and made durable (fsync) before they are renamed into place, so a digest
recorded in the database names a complete file.

Pruning (`workers.retention` decides what no row names any more) removes only files older than
a moment it is given, and a file kept again is always a new file (`Incoming.keep` renames the
new copy over the old one): so a file downloaded again while it is being pruned stays, whichever
of the two gets there first (`remove_if_older`).

The methods do blocking file I/O; async callers run them in a thread.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

INCOMING = "incoming"
PART = "part-"
"""A file being written, in `incoming/`."""
ASIDE = "aside-"
"""A kept file being pruned, in `incoming/` (`aside-<sha256>-<random>`) for the instant it takes."""
REFERENCE_PREFIX = "media:"
"""A kept file named in a text column (a contact's `profile_pic`): `media:<sha256>`."""

_DIGEST = re.compile(r"[0-9a-f]{64}")
_SHARD = re.compile(r"[0-9a-f]{2}")
_ASIDE = re.compile(ASIDE + r"([0-9a-f]{64})-[0-9a-f]+")


class TooLarge(ValueError):  # noqa: N818 - the domain's word: the file is too large
    """More bytes arrived than the writer's limit allows; nothing was kept."""


@dataclass(frozen=True)
class Kept:
    sha256: str
    size: int


def reference(sha256: str) -> str:
    """The text that names a kept file in a column that holds text: `media:<sha256>`."""
    _check(sha256)
    return REFERENCE_PREFIX + sha256


def digest_of(reference_text: str) -> str | None:
    """The digest a `media:<sha256>` reference names; None for anything else (a URL, junk)."""
    if not reference_text.startswith(REFERENCE_PREFIX):
        return None
    digest = reference_text.removeprefix(REFERENCE_PREFIX)
    return digest if _DIGEST.fullmatch(digest) else None


def _check(sha256: str) -> None:
    if not _DIGEST.fullmatch(sha256):
        raise ValueError("a media digest is 64 lowercase hex digits")


class MediaStore:
    """The files under `root`; the root and its folders are made on first write."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        """Where the file with this digest lives (whether or not it is there). Raises
        ValueError for anything but 64 lowercase hex digits, so no caller can walk out of the
        store with a crafted "digest"."""
        _check(sha256)
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        """The kept file, for reading. Raises ValueError for a malformed digest and
        FileNotFoundError when no such file is kept.

        For whoever serves it to a browser: the recorded content type is what the bytes look
        like (see `workers.download`), and some kept types are active (SVG); serve with
        `X-Content-Type-Options: nosniff` and a sandboxing Content-Security-Policy.
        """
        return self.path_of(sha256).open("rb")

    def digests_after(self, after: str, limit: int) -> list[str]:
        """Up to `limit` digests of kept files, in order, each greater than `after` ("" for
        the first): a walk over the store, a batch at a time."""
        if not self.root.is_dir():
            return []
        shards = sorted(
            e.name for e in os.scandir(self.root) if _SHARD.fullmatch(e.name) and e.is_dir()
        )
        found: list[str] = []
        for shard in shards:
            if shard < after[:2]:
                continue
            with os.scandir(self.root / shard) as entries:
                names = sorted(
                    e.name
                    for e in entries
                    if _DIGEST.fullmatch(e.name) and e.name.startswith(shard) and e.name > after
                )
            found.extend(names[: limit - len(found)])
            if len(found) >= limit:
                break
        return found

    def remove_if_older(self, sha256: str, before: float) -> bool:
        """Remove the kept file unless it was written at `before` or later; True if removed.

        The file is first moved aside, then looked at again: a copy kept again meanwhile
        (`Incoming.keep` puts a new file in place) is either the one moved aside, new, and put
        back, or it arrives after the move and stays. Either way the digest names a file."""
        path = self.path_of(sha256)
        try:
            if path.stat().st_mtime >= before:
                return False
        except FileNotFoundError:
            return False
        folder = self.root / INCOMING
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        aside = folder / f"{ASIDE}{sha256}-{secrets.token_hex(8)}"
        try:
            os.rename(path, aside)
            if aside.stat().st_mtime >= before:
                os.replace(aside, path)  # the same bytes, whichever copy is in place now
                return False
            aside.unlink()
        except FileNotFoundError:
            return False  # pruned, or put back, by another process just now
        return True

    def tidy_incoming(self, before: float) -> int:
        """What a process that died left in `incoming/` before `before`: a part no longer
        written to goes; a file it had set aside for pruning goes back to its place (the next
        prune looks at it again). Returns how many were dealt with."""
        folder = self.root / INCOMING
        if not folder.is_dir():
            return 0
        done = 0
        with os.scandir(folder) as entries:
            left = [(e.name, e.stat()) for e in entries if e.is_file()]
        for name, status in left:
            # Moving a file aside keeps its time of writing (mtime) and changes its ctime.
            written, moved = status.st_mtime, status.st_ctime
            aside = _ASIDE.fullmatch(name)
            try:
                if aside is not None and moved < before:
                    target = self.path_of(aside.group(1))
                    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    if target.exists():
                        (folder / name).unlink()
                    else:
                        os.replace(folder / name, target)
                    done += 1
                elif name.startswith(PART) and written < before:
                    (folder / name).unlink()
                    done += 1
            except FileNotFoundError:
                continue  # dealt with by another process meanwhile
        return done

    def incoming(self, max_bytes: int) -> Incoming:
        """A new file to write into, holding at most `max_bytes`."""
        folder = self.root / INCOMING
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, name = tempfile.mkstemp(dir=folder, prefix=PART)  # mode 0600
        return Incoming(self, os.fdopen(handle, "wb"), Path(name), max_bytes)


class Incoming:
    """A file being written: `write` chunks, then `keep` it (or `discard` it). Used as a
    context manager, anything not kept is removed on exit, whatever happened."""

    def __init__(self, store: MediaStore, file: BinaryIO, path: Path, max_bytes: int) -> None:
        self._store = store
        self._file = file
        self._path = path
        self._hash = hashlib.sha256()
        self.max_bytes = max_bytes
        self.size = 0
        self._done = False

    def __enter__(self) -> Incoming:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def write(self, chunk: bytes) -> None:
        """Append `chunk`; raises TooLarge (and keeps nothing) past `max_bytes`."""
        if self._done:
            raise ValueError("this file is already kept or discarded")
        if self.size + len(chunk) > self.max_bytes:
            self.discard()
            raise TooLarge(f"more than {self.max_bytes} bytes")
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def keep(self) -> Kept:
        """Make the file durable and move it to its digest's place. The same bytes kept before
        are kept once: the new copy takes the old one's place, so a file kept again is a new
        file, which pruning leaves alone (`MediaStore.remove_if_older`)."""
        if self._done:
            raise ValueError("this file is already kept or discarded")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._done = True
        digest = self._hash.hexdigest()
        target = self._store.path_of(digest)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.replace(self._path, target)  # only complete files are ever renamed into place
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a crash
        finally:
            os.close(folder)
        return Kept(digest, self.size)

    def discard(self) -> None:
        if self._done:
            return
        self._done = True
        self._file.close()
        self._path.unlink(missing_ok=True)
