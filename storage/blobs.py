"""Customers' files kept on the server's disk, never in Redis: web chat uploads, e-mail
attachments posted inline.

A blob is two files in one directory: ``{blob_id}`` (the bytes) and ``{blob_id}.json``
(what it is: ``media_id``, ``account``, ``mime_type``, ``size``, ``sha256``,
``filename``, plus whatever its writer adds, e.g. the web chat's ``customer_ref``).  The
record is written last, so a blob without one is unfinished and never found.  Bytes are
written to a temporary name and renamed into place: a reader never sees half a file, and
two writers of the same id (a provider's retried webhook) leave one whole copy.

Ids are ``{prefix}_{16 to 64 URL-safe characters}`` (``wcu_…`` web chat uploads, ``eml_…``
e-mail attachments); anything else is refused before it becomes a path, so an id from a
request can never name a file outside the directory.

Every call blocks (file system): the server calls them in a worker thread, except
:func:`read_chunks`, which reads on trio.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import AsyncGenerator, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import trio

__all__ = ["BlobStore", "BlobTooLarge", "blob_root", "is_blob_id", "read_chunks"]

_BLOB_ID = re.compile(r"^[a-z]{2,4}_[A-Za-z0-9_-]{16,64}$")
_CHUNK = 64 * 1024


def blob_root(data_dir: str | Path) -> Path:
    """Where the server keeps blobs: ``{data_dir}/webchat/uploads``.

    The web chat's directory from before other channels kept files, so uploads already
    stored there stay found.
    """
    return Path(data_dir) / "webchat" / "uploads"


def is_blob_id(blob_id: str) -> bool:
    return bool(_BLOB_ID.match(blob_id))


class BlobTooLarge(ValueError):
    """More bytes than the writer allowed (nothing is kept)."""


class BlobStore:
    """Files under one directory, by id (see the module's docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, blob_id: str) -> Path:
        if not is_blob_id(blob_id):
            raise ValueError(f"not a blob id: {blob_id!r:.80}")
        return self.root / blob_id

    def record(self, blob_id: str) -> dict[str, Any] | None:
        """The blob's record, or None when there is no (finished) blob of that id."""
        if not is_blob_id(blob_id):
            return None
        try:
            record = json.loads((self.root / f"{blob_id}.json").read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def write(
        self, blob_id: str, source: IO[bytes], record: Mapping[str, Any], *, limit: int | None
    ) -> dict[str, Any]:
        """Copy ``source`` in; its record is ``record`` plus ``media_id``, ``size`` and
        ``sha256``.  More than ``limit`` bytes: ``BlobTooLarge``, nothing kept."""
        path = self.path(blob_id)
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / f".{blob_id}.{secrets.token_hex(4)}.part"
        digest, size = hashlib.sha256(), 0
        try:
            with temporary.open("xb") as out:
                while chunk := source.read(_CHUNK):
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise BlobTooLarge(f"file over {limit} bytes")
                    digest.update(chunk)
                    out.write(chunk)
            os.replace(temporary, path)
            full = {**record, "media_id": blob_id, "size": size, "sha256": digest.hexdigest()}
            self._write_record(blob_id, full)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return full

    def put(self, blob_id: str, data: bytes, record: Mapping[str, Any]) -> dict[str, Any]:
        """Keep ``data`` under ``blob_id`` unless a blob of that id is already there.

        For ids derived from what they hold (a retried webhook carries the same file):
        the first copy stays and its record is returned.
        """
        found = self.record(blob_id)
        if found is not None and (self.root / blob_id).exists():
            return found
        path = self.path(blob_id)
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / f".{blob_id}.{secrets.token_hex(4)}.part"
        try:
            temporary.write_bytes(data)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        full = {**record, "media_id": blob_id, "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip
        self._write_record(blob_id, full)
        return full

    def delete(self, blob_id: str) -> bool:
        """Remove the blob (bytes and record); whether there was one."""
        if not is_blob_id(blob_id):
            return False
        existed = False
        for path in (self.root / f"{blob_id}.json", self.root / blob_id):
            try:
                path.unlink()
                existed = True
            except FileNotFoundError:
                pass
        return existed

    def delete_many(self, blob_ids: Iterable[str]) -> int:
        return sum(self.delete(b) for b in set(blob_ids))

    def _write_record(self, blob_id: str, record: Mapping[str, Any]) -> None:
        temporary = self.root / f".{blob_id}.{secrets.token_hex(4)}.json.part"
        try:
            temporary.write_text(json.dumps(dict(record)))
            os.replace(temporary, self.root / f"{blob_id}.json")
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


async def read_chunks(path: Path, chunk: int = _CHUNK) -> AsyncGenerator[bytes, None]:
    """A file's bytes in chunks, read without blocking trio."""
    async with await trio.open_file(path, "rb") as file:
        while data := await file.read(chunk):
            yield data
