"""``switchboard retention``: delete old transcripts, on a running server's storage or not.

Where the data is: an explicit Redis URL; else the embedded server of ``data_dir``
— through its socket when a server is running there, or by starting it for the
purge (the data directory's lock keeps this from racing a server that starts
meanwhile).

The files a purged conversation's customers sent that the server keeps on disk (web
chat uploads, e-mail attachments posted inline: ``storage.blobs`` under ``data_dir``)
are deleted with it — before its transcript, which is what names them, so a purge
interrupted in between deletes the rest when run again.  Give ``data_dir`` with an
explicit Redis URL too: the files are there, not in Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from storage.blobs import BlobStore, blob_root, is_blob_id
from storage.embedded import EmbeddedRedis, running_url
from storage.store import Storage

__all__ = ["kept_files", "purge"]

logger = logging.getLogger(__name__)


def purge(
    *,
    older_than_s: float,
    redis_url: str | None,
    data_dir: str | Path,
    workspaces: Iterable[str] | None = None,
) -> dict[str, int]:
    """Delete resolved conversations created more than ``older_than_s`` ago; counts per ws."""
    cutoff = time.time() - older_than_s
    blobs = BlobStore(blob_root(data_dir))
    if redis_url is not None:
        return _purge(redis_url, cutoff, workspaces, blobs)
    url = running_url(Path(data_dir))  # a server on it: through its socket
    if url is not None:
        return _purge(url, cutoff, workspaces, blobs)
    with EmbeddedRedis(Path(data_dir)) as server:
        return _purge(server.url, cutoff, workspaces, blobs)


def _purge(
    url: str, cutoff: float, workspaces: Iterable[str] | None, blobs: BlobStore
) -> dict[str, int]:
    storage = Storage(url)
    files = 0

    def delete_files(conversation_ids: list[str]) -> None:
        nonlocal files
        for cid in conversation_ids:
            files += blobs.delete_many(kept_files(storage.transcript(cid)))

    try:
        chosen = list(workspaces) if workspaces else storage.workspaces()
        removed = {
            ws: storage.purge_before(ws, cutoff, before_delete=delete_files) for ws in chosen
        }
    finally:
        storage.close()
    if files:
        logger.info("retention: %d kept files deleted in %s", files, blobs.root)
    return removed


def kept_files(entries: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """Ids of the files on our disk that a transcript's customer messages name.

    Only messages that came in: the customer's own uploads and attachments.  An agent's
    message may name a file of another conversation, which is not this one's to delete.
    """
    for entry in entries:
        if entry.get("type") != "message" or entry.get("direction") != "in":
            continue
        content = entry.get("content")
        if not isinstance(content, dict):
            continue
        attachments = content.get("attachments")
        media = [content, *(attachments if isinstance(attachments, list) else [])]
        for wire in media:
            media_id = wire.get("media_id") if isinstance(wire, dict) else None
            if isinstance(media_id, str) and is_blob_id(media_id):
                yield media_id
