"""A storage-writer completion that holds the writer thread inside its round."""

from __future__ import annotations

import threading
from typing import Any


class Holding:
    """Told when its step is written, it keeps the writer thread until ``gate`` opens:
    the steps committed meanwhile wait for the next round (and share it)."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate

    def set(self, value: Any = None) -> None:
        self.gate.wait(10)

    def set_exception(self, exc_info: Any = None) -> None:
        self.gate.wait(10)
