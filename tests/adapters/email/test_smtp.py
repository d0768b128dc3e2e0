"""EmailAdapter.send against a real SMTP server on 127.0.0.1 (aiosmtpd, see fake_smtp).

Each test asserts what the server actually received — envelope, headers, body — and
how many transactions it saw, so a retry that sends a mail twice cannot go unnoticed.
"""

from __future__ import annotations

import smtplib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import policy

import httpx
import pytest
import trio

from adapters.base import OutboundItem
from adapters.content import Button, ReplyButtons, Text
from adapters.email.adapter import EmailAdapter
from adapters.email.outbound import Sender, build_email
from adapters.email.smtp import RetryPolicy, classify
from adapters.errors import OutcomeUnknown, ProviderError
from tests.adapters.email.fake_smtp import Answer, FakeSmtp, running_smtp

NOW = 1_714_564_800.0
TO = "ayse.yilmaz@example.com"
THREAD = {
    "message_id": "CAGv4Tq9Xk=8s6bH+Mz2dQ@mail.gmail.com",
    "references": ["sb-41@acme.com.tr"],
    "subject": "Re: Siparişim nerede?",
}


@dataclass(slots=True)
class Sleeps:
    """The injected sleep: records each wait, takes no time."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await trio.lowlevel.checkpoint()


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with running_smtp(users={"postmaster@acme.com.tr": "s3cret"}) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:  # the protocol's; SMTP needs none
        yield client


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def adapter(sleeps: Sleeps) -> EmailAdapter:
    return EmailAdapter(
        clock=lambda: NOW,
        retry=RetryPolicy(attempts=3, base_delay=0.5, max_delay=8.0, jitter=0.5),
        sleep=sleeps,
        random=lambda: 0.5,
    )


def settings_for(server: FakeSmtp, **changes: str) -> dict[str, str]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": str(server.port),
        "smtp_starttls": "false",
        "smtp_timeout_s": "2",
        "from_address": "destek@acme.com.tr",
        "from_name": "Acme Destek",
        "default_subject": "Acme",
    } | changes


GREETING = Text("Kargonuz yarın elinizde.")


def item(content: Text | ReplyButtons = GREETING, **changes: object) -> OutboundItem:
    fields: dict[str, object] = {
        "message_id": "01HX9Z6Q7M3J8K2V",
        "to": TO,
        "content": content,
        "reply_to": THREAD["message_id"],
        "extra": THREAD,
    }
    return OutboundItem(**(fields | changes))  # type: ignore[arg-type]


def expected_bytes(sent: OutboundItem) -> bytes:
    mail = build_email(sent, Sender.of("destek@acme.com.tr", "Acme Destek"), now=NOW,
                       default_subject="Acme")  # fmt: skip
    return mail.as_bytes(policy=policy.SMTP)


async def test_the_server_receives_the_threaded_reply_exactly(
    adapter: EmailAdapter, smtp: FakeSmtp, http: httpx.AsyncClient
) -> None:
    sent = item()
    provider_id = await adapter.send(sent, settings_for(smtp), http)
    assert provider_id == "01HX9Z6Q7M3J8K2V.0db527d6d12d@acme.com.tr"
    [mail] = smtp.received
    assert (mail.mail_from, mail.rcpt_tos, mail.answered) == (
        "destek@acme.com.tr",
        (TO,),
        "250 2.0.0 Ok: queued",
    )
    assert "BODY=8BITMIME" in mail.mail_options
    assert mail.data == (
        b"From: Acme Destek <destek@acme.com.tr>\r\n"
        b"To: ayse.yilmaz@example.com\r\n"
        b"Subject: Re: =?utf-8?q?Sipari=C5=9Fim?= nerede?\r\n"
        b"Date: Wed, 01 May 2024 12:00:00 +0000\r\n"
        b"Message-ID: <01HX9Z6Q7M3J8K2V.0db527d6d12d@acme.com.tr>\r\n"
        b"In-Reply-To: <CAGv4Tq9Xk=8s6bH+Mz2dQ@mail.gmail.com>\r\n"
        b"References: <sb-41@acme.com.tr> <CAGv4Tq9Xk=8s6bH+Mz2dQ@mail.gmail.com>\r\n"
        b'Content-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"MIME-Version: 1.0\r\n"
        b"\r\n"
        b"Kargonuz yar=C4=B1n elinizde.\r\n"
    )


async def test_lines_starting_with_a_dot_and_fallback_text_arrive_intact(
    adapter: EmailAdapter, smtp: FakeSmtp, http: httpx.AsyncClient
) -> None:
    buttons = ReplyButtons(body="Onaylıyor musunuz?", buttons=(Button("y", "Evet"),))
    dotted = Text(".\n..iki nokta\n.")
    await adapter.send(item(buttons, message_id="m1"), settings_for(smtp), http)
    await adapter.send(item(dotted, message_id="m2"), settings_for(smtp), http)
    assert [r.data for r in smtp.received] == [
        expected_bytes(item(buttons, message_id="m1")),
        expected_bytes(item(dotted, message_id="m2")),
    ]
    assert smtp.received[1].data.endswith(b"\r\n.\r\n..iki nokta\r\n.\r\n")


async def test_the_account_logs_in_when_it_has_a_user(
    adapter: EmailAdapter, smtp: FakeSmtp, http: httpx.AsyncClient
) -> None:
    login = {"smtp_username": "postmaster@acme.com.tr", "smtp_password": "s3cret"}
    await adapter.send(item(), settings_for(smtp, **login), http)
    assert [r.login for r in smtp.received] == ["postmaster@acme.com.tr"]


async def test_a_wrong_password_needs_an_operator_and_sends_nothing(
    adapter: EmailAdapter, smtp: FakeSmtp, sleeps: Sleeps, http: httpx.AsyncClient
) -> None:
    login = {"smtp_username": "postmaster@acme.com.tr", "smtp_password": "wrong"}
    with pytest.raises(ProviderError) as caught:
        await adapter.send(item(), settings_for(smtp, **login), http)
    error = caught.value
    assert (error.code, error.retryable, error.permanent) == (535, False, False)
    assert str(error).startswith("E-mail error 535: AUTH:")
    assert (smtp.transactions, sleeps.waits) == (0, [])


async def test_a_4xx_at_the_end_of_data_is_retried_and_the_mail_is_taken_once(
    adapter: EmailAdapter, smtp: FakeSmtp, sleeps: Sleeps, http: httpx.AsyncClient
) -> None:
    smtp.script = [Answer(data="451 4.3.0 Mail server temporarily rejected message")]
    await adapter.send(item(), settings_for(smtp), http)
    assert [r.answered[:3] for r in smtp.received] == ["451", "250"]
    assert len(smtp.accepted) == 1
    assert sleeps.waits == [0.375]  # 0.5 s * (1 - 0.5 + 0.5 * 0.5)


async def test_persistent_4xx_gives_up_retryable_after_the_last_attempt(
    adapter: EmailAdapter, smtp: FakeSmtp, sleeps: Sleeps, http: httpx.AsyncClient
) -> None:
    smtp.script = [Answer(rcpt="450 4.2.1 Mailbox busy")] * 3
    with pytest.raises(ProviderError) as caught:
        await adapter.send(item(), settings_for(smtp), http)
    assert (caught.value.code, caught.value.retryable, caught.value.permanent) == (450, True, False)
    assert "RCPT TO: 4.2.1 Mailbox busy" in str(caught.value)
    assert (smtp.transactions, smtp.received) == (3, [])
    assert sleeps.waits == [0.375, 0.75]


@pytest.mark.parametrize(
    ("answer", "code", "received"),
    [
        (Answer(rcpt="550 5.1.1 The email account that you tried to reach does not exist"), 550, 0),
        (Answer(data="554 5.7.1 Message rejected as spam"), 554, 1),
        (Answer(data="552 5.3.4 Message size exceeds fixed limit"), 552, 1),
    ],
)
async def test_a_5xx_about_the_mail_is_permanent_and_not_retried(
    adapter: EmailAdapter, smtp: FakeSmtp, sleeps: Sleeps, http: httpx.AsyncClient,
    answer: Answer, code: int, received: int,
) -> None:  # fmt: skip
    smtp.script = [answer]
    with pytest.raises(ProviderError) as caught:
        await adapter.send(item(), settings_for(smtp), http)
    assert (caught.value.code, caught.value.retryable, caught.value.permanent) == (
        code,
        False,
        True,
    )
    assert (smtp.transactions, len(smtp.received), sleeps.waits) == (1, received, [])


async def test_a_connection_dropped_after_the_mail_is_an_unknown_outcome_never_resent(
    adapter: EmailAdapter, smtp: FakeSmtp, sleeps: Sleeps, http: httpx.AsyncClient
) -> None:
    smtp.script = [Answer(drop=True)]
    with pytest.raises(OutcomeUnknown, match="it may have been accepted"):
        await adapter.send(item(), settings_for(smtp), http)
    with pytest.raises(OutcomeUnknown, match="may have been delivered"):
        await adapter.send(item(), settings_for(smtp), http)  # the outbox's retry: refused
    assert (smtp.transactions, len(smtp.accepted), sleeps.waits) == (1, 1, [])


async def test_no_answer_in_time_after_the_mail_is_an_unknown_outcome(
    adapter: EmailAdapter, smtp: FakeSmtp, http: httpx.AsyncClient
) -> None:
    smtp.script = [Answer(hold_s=2.0)]
    with pytest.raises(OutcomeUnknown):
        await adapter.send(item(), settings_for(smtp, smtp_timeout_s="0.2"), http)
    assert smtp.transactions == 1


async def test_the_same_message_is_handed_over_once(
    adapter: EmailAdapter, smtp: FakeSmtp, http: httpx.AsyncClient
) -> None:
    first = await adapter.send(item(), settings_for(smtp), http)
    again = await adapter.send(item(), settings_for(smtp), http)
    assert first == again
    assert smtp.transactions == 1


async def test_an_unreachable_server_is_retried_then_reported(
    adapter: EmailAdapter, sleeps: Sleeps, http: httpx.AsyncClient
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = {"smtp_host": "127.0.0.1", "smtp_port": str(port), "smtp_starttls": "false",
                "from_address": "destek@acme.com.tr"}  # fmt: skip
    with pytest.raises(ProviderError) as caught:
        await adapter.send(item(), settings, http)
    assert (caught.value.retryable, caught.value.permanent) == (True, False)
    assert "connect: could not talk to the SMTP server (ConnectionRefusedError" in str(caught.value)
    assert sleeps.waits == [0.375, 0.75]


async def test_starttls_is_required_unless_turned_off(
    adapter: EmailAdapter, smtp: FakeSmtp, http: httpx.AsyncClient
) -> None:
    with pytest.raises(ProviderError) as caught:
        await adapter.send(item(), settings_for(smtp, smtp_starttls="true"), http)
    assert (caught.value.retryable, caught.value.permanent) == (False, False)
    assert "STARTTLS: the SMTP server does not offer it" in str(caught.value)
    assert smtp.transactions == 0


async def test_a_non_ascii_address_goes_out_with_smtputf8(
    adapter: EmailAdapter, smtp: FakeSmtp, http: httpx.AsyncClient
) -> None:
    await adapter.send(item(to="ünal@örnek.com.tr"), settings_for(smtp), http)
    [mail] = smtp.received
    assert mail.rcpt_tos == ("ünal@örnek.com.tr",)
    assert "SMTPUTF8" in mail.mail_options
    assert b"To: \xc3\xbcnal@\xc3\xb6rnek.com.tr\r\n" in mail.data


async def test_a_non_ascii_address_is_refused_by_a_server_without_smtputf8(
    adapter: EmailAdapter, http: httpx.AsyncClient
) -> None:
    with running_smtp(smtputf8=False) as server:
        with pytest.raises(ProviderError) as caught:
            await adapter.send(item(to="ünal@örnek.com.tr"), settings_for(server), http)
        assert (caught.value.retryable, caught.value.permanent) == (False, True)
        assert server.transactions == 0


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"smtp_host": ""}, "smtp_host setting: missing"),
        ({"from_address": "destek"}, "from_address setting: 'destek' is not an e-mail address"),
        ({"smtp_port": "smtp"}, "smtp_port setting: 'smtp' is not a positive number"),
        ({"smtp_port": "70000"}, "smtp_port setting: 70000 is not a port"),
        ({"smtp_starttls": "maybe"}, "smtp_starttls setting: 'maybe' is neither true nor false"),
    ],
)
async def test_a_bad_account_setting_needs_an_operator(
    adapter: EmailAdapter, smtp: FakeSmtp, http: httpx.AsyncClient,
    changes: dict[str, str], reason: str,
) -> None:  # fmt: skip
    with pytest.raises(ProviderError, match=reason) as caught:
        await adapter.send(item(), settings_for(smtp, **changes), http)
    assert (caught.value.retryable, caught.value.permanent) == (False, False)
    assert smtp.transactions == 0


async def test_content_email_cannot_carry_fails_permanently_at_send(
    adapter: EmailAdapter, smtp: FakeSmtp, http: httpx.AsyncClient
) -> None:
    with pytest.raises(ProviderError, match="to: 'nobody' is not an e-mail address") as caught:
        await adapter.send(item(to="nobody"), settings_for(smtp), http)
    assert caught.value.permanent
    assert smtp.transactions == 0


@pytest.mark.parametrize(
    ("step", "error", "kind"),
    [
        ("connect", smtplib.SMTPConnectError(421, b"busy"), "retryable"),
        ("connect", smtplib.SMTPConnectError(554, b"no service for you"), "operator"),
        ("MAIL FROM", smtplib.SMTPResponseException(553, b"sender not allowed"), "operator"),
        ("RCPT TO", smtplib.SMTPResponseException(550, b"no such user"), "permanent"),
        ("text", smtplib.SMTPServerDisconnected("gone"), "retryable"),  # "." never arrived
        ("end of data", smtplib.SMTPServerDisconnected("gone"), "unknown"),
        ("end of data", TimeoutError("timed out"), "unknown"),
        ("end of data", smtplib.SMTPResponseException(-1, b"garbled"), "unknown"),
        ("EHLO", OSError("reset"), "retryable"),
    ],
)
def test_each_failure_is_classified_by_when_it_happened(
    step: str, error: Exception, kind: str
) -> None:
    failure = classify(step, error)
    got = (
        "unknown" if isinstance(failure, OutcomeUnknown)
        else "retryable" if failure.retryable
        else "permanent" if failure.permanent
        else "operator"
    )  # fmt: skip
    assert got == kind
