"""A real SMTP server on 127.0.0.1 for tests, scripted answer by answer.

aiosmtpd (a well-kept SMTP server library) speaks the protocol; it runs its own asyncio
loop in a thread of its own, which does not disturb the trio tests.  Every mail that
reaches the end of DATA is recorded with its envelope, whatever the server then
answers, so a test sees exactly what went over the wire and how many times.

Each transaction (``MAIL FROM`` ... end of DATA) takes the next :class:`Answer` of the
script, then the default (accept) once the script is used up.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOSTNAME = "fake-smtp.test"


@dataclass(frozen=True, slots=True)
class Received:
    """A mail whose text reached the server (accepted or not)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    mail_options: tuple[str, ...]
    data: bytes
    login: str | None
    answered: str  # the reply to the end of DATA, or "dropped"


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """How the server answers one transaction."""

    rcpt: str | None = None  # reply to RCPT TO instead of 250
    data: str | None = None  # reply to the end of DATA instead of 250
    drop: bool = False  # take the mail, then close the connection without answering
    hold_s: float = 0.0  # wait this long before answering the end of DATA


@dataclass(slots=True)
class FakeSmtp:
    """What the server saw; ``script`` answers the next transactions."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    transactions: int = 0  # MAIL FROM commands
    script: list[Answer] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)
    _current: Answer = field(default_factory=Answer)

    @property
    def accepted(self) -> list[Received]:
        """Mails the server took (a dropped connection after DATA included)."""
        return [r for r in self.received if not r.answered.startswith(("4", "5"))]

    # -- aiosmtpd handler hooks (run on the server's loop) ------------------------------

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        options: list[str],
    ) -> str:  # fmt: skip
        del server, session
        self.transactions += 1
        self._current = self.script.pop(0) if self.script else Answer()
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        options: list[str],
    ) -> str:  # fmt: skip
        del server, session, options
        if self._current.rcpt is not None:
            return self._current.rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        answer = self._current
        data = envelope.original_content
        assert isinstance(data, bytes)
        auth = session.auth_data
        reply = "dropped" if answer.drop else answer.data or "250 2.0.0 Ok: queued"
        self.received.append(
            Received(
                str(envelope.mail_from),
                tuple(envelope.rcpt_tos),
                tuple(envelope.mail_options),
                data,
                auth.login.decode() if isinstance(auth, LoginPassword) else None,
                reply,
            )
        )
        if answer.hold_s:
            await asyncio.sleep(answer.hold_s)
        if answer.drop:
            assert server.transport is not None
            server.transport.close()
        return reply

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        del server, session, envelope, mechanism
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(login) == password:
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)


@contextmanager
def running_smtp(
    *, smtputf8: bool = True, users: dict[str, str] | None = None
) -> Iterator[FakeSmtp]:
    """Serve a :class:`FakeSmtp` on 127.0.0.1 (a free port) for the block's duration."""
    fake = FakeSmtp(users=dict(users or {}))
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def protocol() -> SMTP:
        return SMTP(
            fake,
            hostname=HOSTNAME,
            loop=loop,
            enable_SMTPUTF8=smtputf8,
            auth_require_tls=False,
            authenticator=fake.authenticate if users else None,
            timeout=5,
        )

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(loop.create_server(protocol, "127.0.0.1", 0))
        except BaseException as error:  # pragma: no cover - the test reports it
            failure.append(error)
            started.set()
            loop.close()
            return
        fake.port = server.sockets[0].getsockname()[1]
        started.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            loop.run_until_complete(server.wait_closed())
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name="fake-smtp", daemon=True)
    thread.start()
    started.wait(5)
    if failure:
        raise failure[0]
    try:
        yield fake
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
