"""storage.blobs: customers' files on disk, never in Redis; deleted with their transcripts."""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from actors.routing.model import Channel, ConversationState, ConversationStatus
from storage.blobs import BlobStore, BlobTooLarge, blob_root, is_blob_id, read_chunks
from storage.retention import kept_files, purge
from storage.store import Storage

WCU = "wcu_" + "A" * 22
EML = "eml_" + "b" * 24


@pytest.mark.parametrize(
    ("blob_id", "ok"),
    [(WCU, True), (EML, True), ("lnk_" + "c" * 24, True), ("eml_short", False),
     ("../../etc/passwd", False), ("eml_" + "a" * 20 + "/..", False), ("EML_" + "a" * 20, False),
     ("", False), ("65463453", False), ("eml_" + "a" * 65, False)],
)  # fmt: skip
def test_only_blob_ids_become_paths(tmp_path: Path, blob_id: str, ok: bool) -> None:
    assert is_blob_id(blob_id) is ok
    store = BlobStore(tmp_path)
    assert store.record(blob_id) is None
    assert store.delete(blob_id) is False
    if not ok:
        with pytest.raises(ValueError, match="not a blob id"):
            store.path(blob_id)


def test_a_written_blob_is_found_whole_with_its_record(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = b"\x89PNG" + bytes(range(256)) * 300
    record = store.write(WCU, io.BytesIO(data), {"account": "acme", "mime_type": "image/png"},
                         limit=len(data))  # fmt: skip
    assert record == {"account": "acme", "mime_type": "image/png", "media_id": WCU,
                      "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip
    assert store.record(WCU) == record
    assert store.path(WCU).read_bytes() == data
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == [WCU, f"{WCU}.json"]


def test_too_much_is_refused_and_nothing_kept(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(BlobTooLarge):
        store.write(WCU, io.BytesIO(b"x" * 101), {}, limit=100)
    assert list(tmp_path.iterdir()) == []


def test_put_keeps_the_first_copy_of_an_id(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    first = store.put(EML, b"%PDF-1.4", {"account": "acme", "filename": "fatura.pdf"})
    again = store.put(EML, b"%PDF-1.4", {"account": "acme", "filename": "fatura.pdf"})
    assert first == again == store.record(EML)
    assert first["size"] == 8 and first["filename"] == "fatura.pdf"
    assert store.delete_many([EML, EML, WCU]) == 1
    assert store.record(EML) is None and list(tmp_path.iterdir()) == []


def test_a_blob_without_its_record_is_unfinished(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    (tmp_path / EML).write_bytes(b"half")
    assert store.record(EML) is None
    (tmp_path / f"{EML}.json").write_text("[1, 2]")  # not a record
    assert store.record(EML) is None


async def test_chunks_are_read_on_trio(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    (tmp_path / "f").write_bytes(data)
    chunks = [c async for c in read_chunks(tmp_path / "f", chunk=4096)]
    assert b"".join(chunks) == data and len(chunks) == len(data) // 4096 + 1
    await trio.sleep(0)


def test_the_blob_directory_is_the_web_chat_s() -> None:
    assert blob_root("/srv/data") == Path("/srv/data/webchat/uploads")


# -- retention ------------------------------------------------------------------------------------


def _message(direction: str, content: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return ("log", {"type": "message", "direction": direction, "at": 1.0, "content": content})


def test_kept_files_are_those_customers_sent() -> None:
    entries = [
        {"type": "message", "direction": "in", "content": {"kind": "image", "media_id": WCU}},
        {"type": "message", "direction": "in", "content": {
            "kind": "text", "body": "ekte", "attachments": [
                {"kind": "document", "media_id": EML}, {"kind": "image", "url": "https://x"},
                "garbage",
            ]}},
        {"type": "message", "direction": "in", "content": {"kind": "image", "media_id": "123"}},
        {"type": "message", "direction": "out",
         "content": {"kind": "image", "media_id": "wcu_" + "Z" * 22}},
        {"type": "status", "content": {"media_id": "wcu_" + "Y" * 22}},
    ]  # fmt: skip
    assert list(kept_files(entries)) == [WCU, EML]


def test_retention_deletes_the_files_of_purged_conversations_only(
    redis_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    store = BlobStore(blob_root(data))
    files = {name: "wcu_" + letter * 22 for name, letter in
             (("old", "A"), ("open", "B"), ("new", "C"), ("agent", "D"))}  # fmt: skip
    files["mail"] = EML
    for blob_id in files.values():
        store.put(blob_id, b"bytes of " + blob_id.encode(), {"account": "acc"})
    storage = Storage(redis_url)
    journal = storage.conversation_journal()
    now = time.time()
    logs = {
        "old-resolved": (40, ConversationStatus.RESOLVED, [
            _message("in", {"kind": "image", "media_id": files["old"]}),
            _message("in", {"kind": "text", "body": "x",
                            "attachments": [{"kind": "document", "media_id": EML}]}),
            # an agent passing on a file of another chat: not this chat's to delete
            _message("out", {"kind": "image", "media_id": files["agent"]}),
        ]),
        "old-open": (40, ConversationStatus.QUEUED,
                     [_message("in", {"kind": "image", "media_id": files["open"]})]),
        "new-resolved": (2, ConversationStatus.RESOLVED,
                         [_message("in", {"kind": "image", "media_id": files["new"]})]),
    }  # fmt: skip
    for cid, (days, status, entries) in logs.items():
        state = ConversationState(cid, "cus_1", Channel.WEBCHAT, "acc", "q", workspace="acme",
                                  status=status, created_at=now - days * 86400)  # fmt: skip
        journal.save(cid, None, state, entries)
    storage.put_config("acme", "queues", "q", {"queue_id": "q"})
    storage.close()

    assert purge(older_than_s=30 * 86400, redis_url=redis_url, data_dir=data) == {"acme": 1}
    left = sorted(p.name for p in store.root.iterdir() if not p.name.endswith(".json"))
    assert left == sorted([files["open"], files["new"], files["agent"]])
    assert store.record(files["old"]) is None and store.record(EML) is None
    assert json.loads((store.root / f"{files['new']}.json").read_text())["account"] == "acc"
