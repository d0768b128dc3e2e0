"""What differs between Messenger and Instagram DM: one frozen value per platform.

Both are Meta's Messenger Platform: the same webhook envelope (``entry[].messaging[]``),
the same Send API body, the same signature.  Everything that does differ — the webhook's
``object``, text limits, which native elements exist, the error subcode that means
"outside the messaging window" — is written down here, so the parsing and rendering code
has one path and asks the platform instead of branching on a channel name.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INSTAGRAM", "MESSENGER", "Platform"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    """One Meta messaging platform and the limits it documents."""

    channel: str  # our channel name (actors.routing.model.Channel value)
    label: str  # how errors name it ("Messenger", "Instagram")
    webhook_object: str  # the webhook body's ``object``
    #: the settings key naming the business account whose entries this account takes
    account_key: str
    text_limit: int  # longest text message
    text_in_bytes: bool  # ``text_limit`` counts UTF-8 bytes (Instagram), else characters
    button_template: bool  # reply buttons as a button template (else quick replies only)
    reactions_out: bool  # the business can react to a customer's message
    #: the Graph ``error_subcode`` meaning "sent outside the allowed window" (code 10)
    window_subcode: int


MESSENGER = Platform(
    channel="messenger",
    label="Messenger",
    webhook_object="page",
    account_key="page_id",
    text_limit=2000,
    text_in_bytes=False,
    button_template=True,
    reactions_out=False,
    window_subcode=2018278,
)

INSTAGRAM = Platform(
    channel="instagram",
    label="Instagram",
    webhook_object="instagram",
    account_key="instagram_account_id",
    text_limit=1000,
    text_in_bytes=True,
    button_template=False,
    reactions_out=True,
    window_subcode=2534022,
)
