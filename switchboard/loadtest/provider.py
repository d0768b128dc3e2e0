"""The providers' side of agents' replies: a local stand-in for Meta's send APIs.

Agents' replies leave the server through its outbox to the channel's API
(``POST {api_base_url}/{phone_number_id}/messages`` for WhatsApp, ``POST
{api_base_url}/{page_id}/messages`` for Messenger and Instagram).  The load test points
its accounts' ``api_base_url`` here, so no request reaches Meta and every reply that
makes it out is seen by the customer it was meant for.  One answer body satisfies both
clients: WhatsApp reads ``messages[0].id``, Messenger and Instagram ``message_id``.

A small h11 server on trio sockets, as lean as the webhook client: at a few hundred
replies a second it must cost the load generator little.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any

import h11
import trio

__all__ = ["FakeProvider"]

_ids = itertools.count(1)


class FakeProvider:
    """Answers every send like Meta does and counts the replies per recipient."""

    def __init__(self) -> None:
        self.port = 0
        self.host = "127.0.0.1"
        #: recipient (wa_id, PSID, IGSID) -> replies received for them
        self.replies: Counter[str] = Counter()
        self.requests = 0
        self.errors = 0

    @property
    def url(self) -> str:
        """The ``api_base_url`` for the accounts (Graph's version segment included)."""
        return f"http://{self.host}:{self.port}/v21.0"

    async def serve(
        self,
        host: str = "127.0.0.1",
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on ``host`` (any free port) until cancelled."""
        listeners = await trio.open_tcp_listeners(0, host=host)
        self.host = host
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._connection, listeners)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        body: list[bytes] = []
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    body = []
                elif isinstance(event, h11.Data):
                    body.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    await stream.send_all(self._answer(conn, b"".join(body)))
                    if conn.our_state is h11.MUST_CLOSE:
                        return
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return
        except (trio.BrokenResourceError, h11.RemoteProtocolError):
            self.errors += 1
        finally:
            await stream.aclose()

    def _answer(self, conn: h11.Connection, raw: bytes) -> bytes:
        self.requests += 1
        try:
            request: Any = json.loads(raw) if raw else {}
        except ValueError:
            request = {}
        recipient = _recipient(request)
        if recipient:
            self.replies[recipient] += 1
        n = next(_ids)
        answer = json.dumps({
            "messaging_product": "whatsapp",
            "contacts": [{"input": recipient, "wa_id": recipient}],
            "messages": [{"id": f"wamid.out{n}"}],
            "recipient_id": recipient,
            "message_id": f"m_out{n}",
        }).encode()  # fmt: skip
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))]
        return (
            conn.send(h11.Response(status_code=200, headers=headers))
            + conn.send(h11.Data(data=answer))
            + conn.send(h11.EndOfMessage())
        )


def _recipient(request: Any) -> str:
    if not isinstance(request, dict):
        return ""
    to = request.get("to")  # WhatsApp
    if isinstance(to, str):
        return to
    recipient = request.get("recipient")  # Messenger, Instagram
    if isinstance(recipient, dict) and isinstance(recipient.get("id"), str):
        return str(recipient["id"])
    return ""
