"""``switchboard retention`` deletes old resolved transcripts and nothing else."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from actors.routing.model import Channel, ConversationState, ConversationStatus
from storage.store import Storage
from switchboard.cli import main


def _fill(url: str) -> None:
    storage = Storage(url)
    now = time.time()
    journal = storage.conversation_journal()
    ages = {"old-resolved": 40, "old-open": 40, "new-resolved": 2}
    for cid, days in ages.items():
        status = ConversationStatus.QUEUED if "open" in cid else ConversationStatus.RESOLVED
        state = ConversationState(
            cid, "cus_1", Channel.WHATSAPP, "acc", "q", workspace="acme",
            status=status, created_at=now - days * 86400,
        )  # fmt: skip
        journal.save(cid, None, state, [("log", {"type": "message", "text": cid})])
    storage.put_config("acme", "queues", "q", {"queue_id": "q"})
    storage.close()


def _left(url: str) -> list[str]:
    storage = Storage(url)
    try:
        return sorted(c for c in ("old-resolved", "old-open", "new-resolved")
                      if storage.conversation(c) is not None)  # fmt: skip
    finally:
        storage.close()


def test_retention_by_url(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(redis_url)
    assert main(["retention", "--older-than-days", "30", "--redis-url", redis_url]) == 0
    assert capsys.readouterr().out == "acme: 1 conversations deleted\n"
    assert _left(redis_url) == ["new-resolved", "old-open"]


def test_retention_on_a_data_dir_with_no_server_running(redis_factory: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = redis_factory(data)
    _fill(server.url)
    server.stop()
    assert main(["retention", "--older-than-days", "1", "--data-dir", str(data)]) == 0
    server.start()
    assert _left(server.url) == ["old-open"]


def test_retention_refuses_a_negative_age(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["retention", "--older-than-days", "-1"]) == 2
    assert "0 or more" in capsys.readouterr().err
