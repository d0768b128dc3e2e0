"""Handing a mail to the account's SMTP server, without ever sending it twice.

The standard library's ``smtplib`` does the talking, in a worker thread
(``trio.to_thread.run_sync``: the server runs on trio, smtplib blocks), with a socket
time-out on every step.  One connection per mail: replies are sparse and a relay may
drop idle connections anyway.

The dialogue is driven step by step (not ``sendmail``) so that every failure is known
to have happened *before* or *after* the server could have accepted the mail:

- connecting, greeting, ``EHLO``, ``STARTTLS``, ``AUTH``, ``MAIL``, ``RCPT``, ``DATA``
  and writing the text: the server accepts a mail only when the final ``.`` line has
  arrived, and a failed write means it did not (the last bytes are the ones left
  unsent), so a dropped connection or time-out here is *retried*;
- waiting for the answer to the final ``.``: the server may have taken the mail and
  the answer got lost — ``OutcomeUnknown``, never a blind resend.

SMTP's answers: 4xx at any step is "try again later" (``retryable``); 5xx to ``RCPT``
or to the mail itself is about this message (``permanent``: no such mailbox, refused
as spam, too large); 5xx to ``EHLO`` / ``AUTH`` / ``MAIL FROM``, a missing STARTTLS and
a certificate that does not verify need an operator (neither retryable nor permanent).

Retries wait with exponential backoff and jitter (``RetryPolicy``; ``sleep`` and
``random`` injectable).  ``send(..., idempotency_key=k)`` remembers outcomes like
``GraphClient.send``: the same key again returns at once, or raises ``OutcomeUnknown``
again when the first outcome was unknown.
"""

from __future__ import annotations

import random as _random
import re
import smtplib
import ssl
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import trio

from adapters.errors import OutcomeUnknown, ProviderError
from adapters.http import RetryPolicy

__all__ = [
    "Envelope",
    "RetryPolicy",
    "SmtpClient",
    "SmtpConfig",
    "classify",
    "deliver",
    "smtp_error",
]

Phase = Literal["connect", "hello", "envelope", "body", "reply"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    """Where and how to reach the account's SMTP server."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True  # upgrade with STARTTLS (port 587); refused if the server can't
    implicit_tls: bool = False  # TLS from the first byte (port 465)
    timeout: float = 30.0  # seconds for connecting and for each step of the dialogue
    helo_name: str = "localhost"  # the name we give in EHLO


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """One mail to hand over: the envelope addresses and the RFC 5322 text (CRLF lines)."""

    mail_from: str
    rcpt_to: str
    data: bytes
    smtputf8: bool = False  # the addresses are not ASCII: the server must offer SMTPUTF8


def smtp_error(
    code: int | None, message: str, *, retryable: bool, permanent: bool
) -> ProviderError:
    """A ``ProviderError`` whose text says it came from e-mail (not "WhatsApp error")."""
    error = ProviderError(code, message, retryable=retryable, permanent=permanent)
    error.args = (f"E-mail error {code}: {message}" if code is not None else f"E-mail: {message}",)
    return error


def _unknown(message: str) -> OutcomeUnknown:
    error = OutcomeUnknown(message)
    error.args = (f"E-mail: {message}",)
    return error


class SmtpClient:
    """Sends mails through one SMTP server (a relay, or the provider's submission port)."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = trio.sleep,
        random: Callable[[], float] = _random.random,
        tls_context: ssl.SSLContext | None = None,
        remember: int = 10_000,
    ) -> None:
        self.config = config
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._random = random
        self._tls = tls_context or ssl.create_default_context()
        self._remember = remember
        self._done: OrderedDict[str, bool] = OrderedDict()  # key -> sent (False: unknown)
        self._in_flight: dict[str, trio.Event] = {}

    async def send(self, envelope: Envelope, *, idempotency_key: str | None = None) -> int:
        """Hand ``envelope`` to the server; the number of attempts it took (0: sent before).

        ``ProviderError`` (``OutcomeUnknown``) when it was not accepted; see the module.
        """
        if idempotency_key is None:
            return await self._deliver(envelope)
        key = idempotency_key
        while (event := self._in_flight.get(key)) is not None:
            await event.wait()
        if key in self._done:
            if not self._done[key]:
                raise _unknown(f"an earlier send of {key!r} may have been delivered")
            return 0
        event = self._in_flight[key] = trio.Event()
        try:
            attempts = await self._deliver(envelope)
        except OutcomeUnknown:
            self._record(key, sent=False)
            raise
        except ProviderError:
            raise  # definitely not sent: the key may try again
        except BaseException:
            self._record(key, sent=False)  # cancelled while the thread talked: who knows
            raise
        else:
            self._record(key, sent=True)
            return attempts
        finally:
            del self._in_flight[key]
            event.set()

    def _record(self, key: str, *, sent: bool) -> None:
        self._done[key] = sent
        while len(self._done) > self._remember:
            self._done.popitem(last=False)

    async def _deliver(self, envelope: Envelope) -> int:
        talk = partial(deliver, self.config, envelope, self._tls)
        for attempt in range(1, self._retry.attempts + 1):
            try:
                await trio.to_thread.run_sync(talk)
            except ProviderError as failure:
                if not failure.retryable or attempt >= self._retry.attempts:
                    raise
                await self._sleep(self._retry.delay(attempt - 1, self._random()))
            else:
                return attempt
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover


# -- the dialogue (runs in a worker thread) -----------------------------------------------


class _Dialogue:
    """Where the dialogue is: the step (for messages) and whether the mail may be in."""

    def __init__(self) -> None:
        self.step = "connect"

    @property
    def phase(self) -> Phase:
        return _PHASES.get(self.step, "envelope")


_PHASES: dict[str, Phase] = {
    "connect": "connect",
    "EHLO": "hello",
    "STARTTLS": "hello",
    "AUTH": "hello",
    "text": "body",
    "end of data": "reply",
}
#: steps whose 5xx answer refuses this mail (not the account's set-up)
_ABOUT_MESSAGE = frozenset({"RCPT TO", "DATA", "text", "end of data"})


def deliver(config: SmtpConfig, envelope: Envelope, tls: ssl.SSLContext) -> None:
    """One blocking attempt; every failure comes out as a classified ``ProviderError``."""
    at = _Dialogue()
    smtp: smtplib.SMTP | None = None
    try:
        if config.implicit_tls:
            smtp = smtplib.SMTP_SSL(config.host, config.port, local_hostname=config.helo_name,
                                    timeout=config.timeout, context=tls)  # fmt: skip
        else:
            smtp = smtplib.SMTP(config.host, config.port, local_hostname=config.helo_name,
                                timeout=config.timeout)  # fmt: skip
        at.step = "EHLO"
        smtp.ehlo_or_helo_if_needed()
        if config.starttls and not config.implicit_tls:
            at.step = "STARTTLS"
            smtp.starttls(context=tls)  # SMTPNotSupportedError when not offered: no plaintext
            smtp.ehlo()
        if config.username:
            at.step = "AUTH"
            smtp.login(config.username, config.password or "")
        at.step = "MAIL FROM"
        if envelope.smtputf8 and not smtp.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError("the server does not offer SMTPUTF8")
        options = ["SMTPUTF8"] if envelope.smtputf8 else []
        if smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        code, reply = smtp.mail(envelope.mail_from, options)
        if code != 250:
            raise smtplib.SMTPResponseException(code, reply)
        at.step = "RCPT TO"
        code, reply = smtp.rcpt(envelope.rcpt_to)
        if code not in (250, 251):
            raise smtplib.SMTPResponseException(code, reply)
        at.step = "DATA"
        code, reply = smtp.docmd("DATA")
        if code != 354:
            raise smtplib.SMTPResponseException(code, reply)
        at.step = "text"
        smtp.send(_dot_stuffed(envelope.data))
        at.step = "end of data"
        code, reply = smtp.getreply()
        if code != 250:
            raise smtplib.SMTPResponseException(code, reply)
    except (smtplib.SMTPException, OSError) as error:
        raise classify(at.step, error) from error
    finally:
        if smtp is not None:
            _quit(smtp)


def _dot_stuffed(data: bytes) -> bytes:
    """The mail text as DATA sends it: leading dots doubled, ended by ``CRLF . CRLF``."""
    text = re.sub(rb"(?m)^\.", b"..", data)
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    return text + b".\r\n"


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def classify(step: str, error: BaseException) -> ProviderError:
    """What a failure at ``step`` of the dialogue means for this mail (see the module)."""
    phase = _PHASES.get(step, "envelope")
    if isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        reply = error.smtp_error
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        message = f"{step}: {' '.join(text.split()) or 'no text'}"
        if 400 <= code < 500:
            return smtp_error(code, message, retryable=True, permanent=False)
        if 500 <= code < 600:
            return smtp_error(code, message, retryable=False, permanent=step in _ABOUT_MESSAGE)
        if phase == "reply":  # an answer we cannot read, after the whole mail went out
            return _unknown(f"{message}: unreadable answer; the mail may have been accepted")
        return smtp_error(code, message, retryable=True, permanent=False)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        if "SMTPUTF8" in str(error):
            return smtp_error(None, f"{error}: a non-ASCII address cannot be sent through it",
                              retryable=False, permanent=True)  # fmt: skip
        return smtp_error(None, f"{step}: the SMTP server does not offer it ({error})",
                          retryable=False, permanent=False)  # fmt: skip
    if isinstance(error, ssl.SSLCertVerificationError):
        return smtp_error(None, f"{step}: the SMTP server's certificate: {error.verify_message}",
                          retryable=False, permanent=False)  # fmt: skip
    if phase == "reply":
        return _unknown(
            f"no answer from the SMTP server after the mail was sent ({type(error).__name__}:"
            f" {error}); it may have been accepted"
        )
    return smtp_error(
        None, f"{step}: could not talk to the SMTP server ({type(error).__name__}: {error})",
        retryable=True, permanent=False,
    )  # fmt: skip
