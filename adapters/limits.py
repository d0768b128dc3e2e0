"""Checks and small renderings every channel's outbound module needs.

Each provider publishes its own numbers (WhatsApp's 4096-character text, Telegram's
64-byte callback data ...), and those stay in each channel's ``outbound``.  What is the
same everywhere is how a breach is told to the agent — one ``ContentError`` naming the
field, the size and who sets the limit — and how content a channel has no element for
is written as plain text; both live here so the channels word them alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sized

from adapters.content import ContactCard, ContentError, Wire

__all__ = ["at_most", "card_text", "compact", "framed", "limit", "limit_bytes", "unique_ids"]


def limit(field: str, value: str, most: int, who: str) -> str:
    """``value`` unless it is empty or longer than ``who`` allows (in characters)."""
    if not value:
        raise ContentError.at(field, "must not be empty")
    if len(value) > most:
        raise ContentError.at(
            field, f"is {len(value)} characters long; {who} allows at most {most}"
        )
    return value


def limit_bytes(field: str, value: str, most: int, who: str) -> str:
    """``value`` unless it is empty or longer than ``who`` allows in UTF-8 bytes."""
    if not value:
        raise ContentError.at(field, "must not be empty")
    size = len(value.encode("utf-8"))
    if size > most:
        raise ContentError.at(field, f"is {size} bytes long in UTF-8; {who} allows at most {most}")
    return value


def at_most(field: str, items: Sized, most: int, what: str, who: str) -> None:
    """Refuse more than ``most`` items; ``what`` names them in the message ("quick replies")."""
    if len(items) > most:
        raise ContentError.at(field, f"{who} allows at most {most} {what}, got {len(items)}")


def unique_ids(ids: Iterable[tuple[str, str]], check: Callable[[str, str], object]) -> None:
    """Each ``(field, id)`` passes ``check(field, id)`` and is used once.

    A tap comes back with only the id, so two buttons with one id could not be told apart.
    """
    seen: dict[str, str] = {}
    for field, item in ids:
        check(field, item)
        if item in seen:
            raise ContentError.at(
                field, f"{item!r} is also the id of {seen[item]}; ids must differ"
            )
        seen[item] = field.removesuffix(".id")


def compact(wire: Wire) -> Wire:
    """``wire`` without its None values: providers refuse a field sent as null."""
    return {key: value for key, value in wire.items() if value is not None}


def framed(header: str | None, body: str, footer: str | None) -> str:
    """Header and footer texts as lines around the body, for channels without such fields."""
    return "\n\n".join(part for part in (header, body, footer) if part)


def card_text(card: ContactCard, *, phones: bool = False) -> str:
    """A contact card as text, for a channel that cannot send this card natively; the
    numbers are listed only when ``phones`` (else the channel sends them as a contact)."""
    lines = [card.formatted_name]
    if card.company or card.job_title:
        lines.append(", ".join(part for part in (card.job_title, card.company) if part))
    if phones:
        lines.extend(phone.phone for phone in card.phones)
    lines.extend(email.email for email in card.emails)
    lines.extend(url.url for url in card.urls)
    return "\n".join(lines)
