"""Typed reads from a webhook body, each failure a ``WebhookError`` naming its place.

Unknown keys are never looked at, so Meta adding fields changes nothing; a known key
with the wrong type is an error, with the path from the body's root
(``entry[0].changes[1].value.messages[0].timestamp: expected epoch seconds``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from adapters.whatsapp.errors import WebhookError

__all__ = ["Obj"]


class Obj:
    """One JSON object of the body and where it sits."""

    __slots__ = ("_data", "path")

    def __init__(self, data: object, path: str) -> None:
        if type(data) is not dict and not isinstance(data, Mapping):  # dict: the usual, fast
            raise WebhookError(f"{path or 'body'}: expected an object")
        self._data: Mapping[str, Any] = data
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def missing(self, key: str) -> WebhookError:
        return WebhookError(f"{self.path or 'body'}: missing {key!r}")

    def wrong(self, key: str, expected: str) -> WebhookError:
        return WebhookError(f"{self.at(key)}: expected {expected}, got {self._data[key]!r:.40}")

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self._data.get(key)

    def text(self, key: str) -> str:
        value = self._data.get(key)
        if value is None:
            raise self.missing(key)
        if type(value) is not str:
            raise self.wrong(key, "a string")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self._data.get(key)
        if value is not None and type(value) is not str:
            raise self.wrong(key, "a string")
        return value

    def flag(self, key: str) -> bool:
        value = self._data.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.wrong(key, "true or false")
        return value

    def opt_flag(self, key: str) -> bool | None:
        return self.flag(key) if self.has(key) else None

    def number(self, key: str) -> float:
        """A JSON number, or a numeric string (Graph writes some numbers as strings)."""
        if not self.has(key):
            raise self.missing(key)
        value = self._data[key]
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise self.wrong(key, "a number") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.wrong(key, "a number")
        if not math.isfinite(value):
            raise self.wrong(key, "a finite number")
        return value

    def integer(self, key: str) -> int:
        """A JSON integer, or a string of digits."""
        if not self.has(key):
            raise self.missing(key)
        value = self._data[key]
        if isinstance(value, str) and value.isascii() and value.isdigit():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.wrong(key, "an integer")
        return value

    def opt_integer(self, key: str) -> int | None:
        return self.integer(key) if self.has(key) else None

    def epoch(self, key: str) -> int:
        """Epoch seconds; the Cloud API sends them as strings (``"1697043223"``)."""
        if not self.has(key):
            raise self.missing(key)
        value = self._data[key]
        if isinstance(value, str) and value.isascii() and value.isdigit():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise self.wrong(key, "epoch seconds")

    def opt_epoch(self, key: str) -> int | None:
        return self.epoch(key) if self.has(key) else None

    def obj(self, key: str) -> Obj:
        value = self._data.get(key)
        if value is None:
            raise self.missing(key)
        return Obj(value, self.at(key))

    def opt_obj(self, key: str) -> Obj | None:
        value = self._data.get(key)
        return None if value is None else Obj(value, self.at(key))

    def objects(self, key: str, *, required: bool = False) -> list[Obj]:
        value = self._data.get(key)
        if value is None:
            if required:
                raise self.missing(key)
            return []
        if not isinstance(value, list):
            raise self.wrong(key, "a list")
        return [Obj(item, f"{self.at(key)}[{i}]") for i, item in enumerate(value)]
