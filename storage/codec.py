"""Records on disk: msgpack, typed by msgspec, with a schema version on each.

Every stored value is the msgpack array ``[version, payload]``.  ``payload`` is
the record encoded by msgspec (dataclasses become maps of field name to value,
enums their values, frozensets arrays).  Reading goes the other way and checks
types as it goes, so a corrupt record is an error with a path, not a half-built
state.  Fields a newer version adds carry defaults, so an older record decodes
as is; a change that defaults cannot express registers an upgrade function
(``upgrade(kind, from_version)``) that rewrites the old payload before decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

__all__ = ["SCHEMA_VERSION", "CodecError", "decode", "decode_plain", "encode", "upgrade"]

#: the version written by this release
SCHEMA_VERSION = 1

T = TypeVar("T")

_encoder = msgspec.msgpack.Encoder()
_envelope = msgspec.msgpack.Decoder(tuple[int, msgspec.Raw])
_plain = msgspec.msgpack.Decoder()
_upgrades: dict[tuple[str, int], Callable[[Any], Any]] = {}


class CodecError(ValueError):
    """A stored record could not be read."""


def encode(record: object) -> bytes:
    """``record`` (a dataclass, dict, list or scalar) as ``[version, payload]``."""
    return _encoder.encode((SCHEMA_VERSION, record))


def decode(data: bytes, kind: type[T], *, name: str | None = None) -> T:
    """Read a record written by :func:`encode` as ``kind``, upgrading older versions."""
    try:
        version, raw = _envelope.decode(data)
        if version == SCHEMA_VERSION:
            return msgspec.msgpack.decode(raw, type=kind)
        if version > SCHEMA_VERSION:
            msg = f"record version {version} is newer than this server ({SCHEMA_VERSION})"
            raise CodecError(msg)
        payload = _plain.decode(raw)
        for step in range(version, SCHEMA_VERSION):
            rewrite = _upgrades.get((name or kind.__name__, step))
            if rewrite is not None:
                payload = rewrite(payload)
        return msgspec.convert(payload, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise CodecError(f"cannot read {kind.__name__}: {error}") from error


def decode_plain(data: bytes) -> Any:
    """A record's payload as plain values (maps, lists, scalars)."""
    try:
        return _plain.decode(_envelope.decode(data)[1])
    except msgspec.DecodeError as error:
        raise CodecError(str(error)) from error


def upgrade(kind: str, from_version: int) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Register how a ``kind`` payload of ``from_version`` becomes the next version's."""

    def register(rewrite: Callable[[Any], Any]) -> Callable[[Any], Any]:
        _upgrades[(kind, from_version)] = rewrite
        return rewrite

    return register
