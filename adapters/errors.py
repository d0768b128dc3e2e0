"""What can go wrong with a channel provider, each error with the HTTP status the server answers.

Shared by every channel adapter (WhatsApp's names are re-exported by
``adapters.whatsapp.errors``).

- ``SignatureError``: a webhook's signature (or secret token) is missing or wrong
  (answer 401, record nothing).
- ``WebhookError``: the POST body is not what the provider sends (answer 400, record nothing).
- ``ProviderError``: the provider refused or failed a call.  ``retryable`` says trying the same
  call later may work (rate limits, outages); ``permanent`` says this message can never
  be delivered as it is (bad recipient, invalid content).  Neither: an operator must act
  (expired token, missing permission).
- ``WindowClosed``: free-form content outside the 24-hour customer service window, found
  before sending or reported by Graph (error 131047).  Send an approved template instead.
- ``OutcomeUnknown``: the request may have reached Graph but no answer came back, so the
  message may or may not be on its way; see ``GraphClient.send``.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["OutcomeUnknown", "ProviderError", "SignatureError", "WebhookError", "WindowClosed"]

RE_ENGAGEMENT = 131047


class SignatureError(Exception):
    """The webhook is not signed by the provider (missing, malformed or wrong signature)."""

    status: ClassVar[int] = 401
    code: ClassVar[str] = "bad_signature"


class WebhookError(ValueError):
    """A malformed webhook body; the message names the exact place, e.g.
    ``entry[0].changes[1].value.messages[0]: missing 'from'``."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "malformed_webhook"


class ProviderError(Exception):
    """A provider did not accept a call; ``code`` is its numeric error code when it gave one.

    ``provider`` names the channel in the text, because an agent reading why a reply failed
    must be told which provider refused it: ``Telegram error 403: ...``, ``Viber error:
    ...`` when there is no code.  Left out, the text keeps WhatsApp's form (the first
    channel): ``WhatsApp error <code>: ...``, the bare message when Graph gave no code.
    """

    status: ClassVar[int] = 502

    def __init__(
        self,
        code: int | None,
        message: str,
        *,
        retryable: bool,
        permanent: bool,
        http_status: int | None = None,
        subcode: int | None = None,
        details: str | None = None,
        trace_id: str | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(_text(provider, code, message))
        self.code = code
        self.message = message
        self.retryable = retryable
        self.permanent = permanent
        self.http_status = http_status
        self.subcode = subcode
        self.details = details
        self.trace_id = trace_id
        self.provider = provider


def _text(provider: str | None, code: int | None, message: str) -> str:
    if provider is None:
        return f"WhatsApp error {code}: {message}" if code is not None else message
    return f"{provider} error{f' {code}' if code is not None else ''}: {message}"


class WindowClosed(ProviderError):
    """More than 24 hours since the customer's last message: only templates may be sent.

    ``code`` and ``subcode`` are the provider's for it (WhatsApp's 131047 unless given).
    """

    status: ClassVar[int] = 409

    def __init__(
        self,
        message: str = "more than 24 hours since the customer's last message; "
        "send an approved template instead",
        *,
        code: int = RE_ENGAGEMENT,
        subcode: int | None = None,
        http_status: int | None = None,
        details: str | None = None,
        trace_id: str | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(
            code,
            message,
            retryable=False,
            permanent=True,
            http_status=http_status,
            subcode=subcode,
            details=details,
            trace_id=trace_id,
            provider=provider,
        )


class OutcomeUnknown(ProviderError):
    """The request may have been delivered: resending could message the customer twice."""

    def __init__(self, message: str, *, provider: str | None = None) -> None:
        super().__init__(None, message, retryable=False, permanent=False, provider=provider)
