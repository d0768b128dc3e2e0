"""Customers' media through the real server: referenced in the message, streamed on demand.

Messenger, Instagram and Viber send a link to their CDN, Mailgun a link to a stored mail's
file or the file itself: each is taken in by its signed webhook, and an agent (or a
supervisor) of the conversation's workspace opens it through
``GET /api/v1/conversations/{id}/media/{media_id}``.  The CDN here is a local HTTP server
(``tests.support.fake_cdn``); what it was asked, with which credentials, is asserted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from actors.routing.model import Channel
from adapters.email.signing import sign as mailgun_sign
from adapters.links import link_media_id
from adapters.meta import sign as meta_sign
from server.api import _find_media
from server.app import serve
from server.catalog import Account, Catalog, Role, User, demo_objects, seed
from storage.blobs import blob_root
from storage.codec import encode
from storage.store import Storage
from switchboard.config import load_config
from tests.adapters.email.mailgun import forward_fields, multipart
from tests.support.agent_socket import agent_socket, next_frame
from tests.support.fake_cdn import IMAGE, PDF, FakeCdn, File, running_cdn

SUPERVISOR = {"Authorization": "Bearer demo-supervisor"}
OTHER_WORKSPACE = {"Authorization": "Bearer other-supervisor"}
MEHMET = {"Authorization": "Bearer demo-mehmet"}  # an agent, not of these conversations
API_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"

_ids = itertools.count(1)


@dataclass
class Server:
    url: str
    http: httpx.AsyncClient
    cdn: FakeCdn
    data_dir: Path
    redis_url: str

    async def webhook(
        self, channel: str, body: bytes, headers: dict[str, str], account: str | None = None
    ) -> None:
        path = f"/webhooks/{channel}/{account or f'demo-{channel}'}"
        answer = await self.http.post(path, content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] >= 1, answer.text

    async def inbound(
        self, channel: str, sender: str, account: str | None = None
    ) -> tuple[str, list[dict[str, Any]]]:
        """The conversation of ``sender``'s messages and their contents, once recorded."""
        identity = [channel, f"{account or f'demo-{channel}'}:{sender}"]
        with trio.fail_after(10):
            while True:
                found = await self.http.get(f"/api/v1/conversations?channel={channel}",
                                            headers=SUPERVISOR)  # fmt: skip
                for conversation in found.json()["conversations"]:
                    cid = conversation["conversation_id"]
                    log = await self.http.get(f"/api/v1/conversations/{cid}/messages",
                                              headers=SUPERVISOR)  # fmt: skip
                    entries = log.json()["entries"]
                    contents = [
                        e["content"]
                        for e in entries
                        if e.get("type") == "message" and e["direction"] == "in"
                    ]
                    customer = await self.http.get(
                        f"/api/v1/customers/{conversation['customer_id']}", headers=SUPERVISOR
                    )
                    if contents and identity in customer.json()["identities"]:
                        return cid, contents
                await trio.sleep(0.05)

    async def media(self, cid: str, media_id: str, headers: dict[str, str]) -> httpx.Response:
        return await self.http.get(f"/api/v1/conversations/{cid}/media/{media_id}",
                                   headers=headers)  # fmt: skip


@pytest.fixture
async def server(redis_url: str, tmp_path: Path) -> AsyncIterator[Server]:
    async with trio.open_nursery() as nursery, running_cdn(nursery) as cdn:
        storage = Storage(redis_url)
        catalog = Catalog(storage)
        seed(catalog, demo_objects())
        hosts = {"media_hosts": cdn.url}
        settings = {
            Channel.MESSENGER: {"app_secret": "meta-secret", **hosts},
            Channel.INSTAGRAM: {"app_secret": "meta-secret", **hosts},
            Channel.VIBER: {"auth_token": "viber-token", "sender_name": "Demo", **hosts},
            Channel.EMAIL: {"signing_key": "mail-key", "api_key": API_KEY, **hosts},
        }
        for channel, values in settings.items():
            catalog.put_account(Account(f"demo-{channel.value}", "demo", channel, "demo-support",
                                        settings=values))  # fmt: skip
        catalog.put_account(Account("small-messenger", "demo", Channel.MESSENGER, "demo-support",
                                    settings={**settings[Channel.MESSENGER],
                                              "media_max_bytes": "100"}))  # fmt: skip
        eve = User("eve", "other", Role.SUPERVISOR, "Eve")
        catalog.put_user(eve)
        catalog.add_token(eve, "other-supervisor")
        storage.close()
        config = load_config(env={}, overrides={
            "server.port": 0, "server.redis_url": redis_url,
            "server.data_dir": str(tmp_path / "data"), "limits.webhook_max_bytes": 1024 * 1024,
        })  # fmt: skip
        stop = trio.Event()
        [url] = await nursery.start(partial(serve, config, shutdown_trigger=stop.wait))
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield Server(url, http, cdn, tmp_path / "data", redis_url)
        stop.set()


# -- what each provider posts -------------------------------------------------------------------


Request = tuple[bytes, dict[str, str]]


def _meta(kind: str, sender: str, attachments: list[dict[str, Any]]) -> Request:
    body = json.dumps({
        "object": kind,
        "entry": [{"id": "PAGE", "time": 1763900000000, "messaging": [{
            "sender": {"id": sender}, "recipient": {"id": "PAGE"},
            "timestamp": 1763900000000,
            "message": {"mid": f"m_{next(_ids)}", "attachments": attachments},
        }]}],
    }).encode()  # fmt: skip
    return body, {"X-Hub-Signature-256": meta_sign(b"meta-secret", body),
                  "Content-Type": "application/json"}  # fmt: skip


def _image(url: str) -> dict[str, Any]:
    return {"type": "image", "payload": {"url": url}}


def _viber(sender: str, message: dict[str, Any]) -> Request:
    body = json.dumps({
        "event": "message", "timestamp": 1763900000000, "message_token": 5000 + next(_ids),
        "sender": {"id": sender, "name": "Ada"}, "message": message,
    }).encode()  # fmt: skip
    signature = hmac.new(b"viber-token", body, hashlib.sha256).hexdigest()
    return body, {"X-Viber-Content-Signature": signature, "Content-Type": "application/json"}


def _mail(
    sender: str, message_id: str, files: dict[str, tuple[str, str, bytes]], **fields: str
) -> Request:
    """A Mailgun POST signed now (a retry is signed afresh, with a new token)."""
    stamp, token = str(int(time.time())), f"token-{next(_ids)}"
    values = forward_fields(**{
        "from": sender, "From": sender, "sender": sender, "Message-Id": f"<{message_id}>",
        "recipient": "support@example.com", "message-headers": None,
        "attachment-count": str(len(files)), **fields,
    })  # fmt: skip
    values.update(timestamp=stamp, token=token, signature=mailgun_sign("mail-key", stamp, token))
    body, ctype = multipart(values, files)
    return body, {"Content-Type": ctype}


# -- Messenger and Instagram ------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["messenger", "instagram"])
async def test_a_customer_s_cdn_image_streams_to_the_agent_and_no_one_else(
    server: Server, channel: str
) -> None:
    kind = "page" if channel == "messenger" else "instagram"
    url = server.cdn.serve("v/t1.15752-9/photo_n.jpg", File(body=IMAGE, content_type="image/jpeg"))
    url += "?_nc_cat=1&oh=00_AYB&oe=66A1B2C3"  # signed and time-limited, as Meta's are
    async with trio.open_nursery() as nursery:
        ws = await nursery.start(agent_socket, server.url)
        await next_frame(ws, "hello")
        await ws.send_message(json.dumps({"type": "status.set", "status": "online"}))
        await server.webhook(channel, *_meta(kind, f"{channel}-ada", [_image(url)]))
        assigned = await next_frame(ws, "conversation.assigned")
        nursery.cancel_scope.cancel()
    cid, [content] = await server.inbound(channel, f"{channel}-ada")
    assert cid == assigned["conversation_id"]
    # referenced, not copied: the CDN link and an id of ours for it
    assert content == {"kind": "image", "url": url, "media_id": link_media_id(url)}
    assert server.cdn.seen == []  # nothing fetched until someone opens it

    for who in ({"Authorization": "Bearer demo-zeynep"}, SUPERVISOR):
        media = await server.media(cid, content["media_id"], who)
        assert media.status_code == 200, media.text
        assert media.content == IMAGE
        assert media.headers["content-type"] == "image/jpeg"
        assert media.headers["content-length"] == str(len(IMAGE))
        assert media.headers["x-content-type-options"] == "nosniff"
        assert media.headers["content-disposition"] == "inline"
    assert [(s.path, s.query, s.authorization) for s in server.cdn.seen] == [
        ("/v/t1.15752-9/photo_n.jpg", "_nc_cat=1&oh=00_AYB&oe=66A1B2C3", None)
    ] * 2  # the signed link as Meta gave it; no token of ours goes to the CDN

    for who in (OTHER_WORKSPACE, MEHMET):  # another workspace; an agent not in the chat
        refused = await server.media(cid, content["media_id"], who)
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "not_found"
    assert len(server.cdn.seen) == 2


async def test_only_urls_of_the_conversation_s_own_messages_are_fetched(server: Server) -> None:
    mine = server.cdn.serve("mine.jpg", File(body=IMAGE, content_type="image/jpeg"))
    theirs = server.cdn.serve("theirs.jpg", File(body=b"someone else's", content_type="image/jpeg"))
    await server.webhook("messenger", *_meta("page", "psid-mine", [_image(mine)]))
    await server.webhook("messenger", *_meta("page", "psid-theirs", [_image(theirs)]))
    cid, _ = await server.inbound("messenger", "psid-mine")
    other_cid, _ = await server.inbound("messenger", "psid-theirs")
    assert cid != other_cid
    # an id of a URL of another conversation, of one nobody sent, or a URL itself
    for media_id in (link_media_id(theirs), link_media_id(server.cdn.url + "/mine.jpg?x"),
                     base64.urlsafe_b64encode(mine.encode()).decode(), "1234"):  # fmt: skip
        refused = await server.media(cid, media_id, SUPERVISOR)
        assert refused.status_code == 404, media_id
        assert refused.json()["error"]["code"] == "not_found"
    assert server.cdn.seen == []
    assert (await server.media(other_cid, link_media_id(theirs), SUPERVISOR)).status_code == 200


async def test_a_link_in_an_agent_s_message_is_never_fetched(server: Server) -> None:
    await server.webhook("messenger", *_meta("page", "psid-out", [_image(server.cdn.url + "/a")]))
    cid, _ = await server.inbound("messenger", "psid-out")
    # an agent's message may carry any URL (and any id): only what came in is fetched
    secret = server.cdn.serve("internal/secret", File(body=b"secret"))
    storage = Storage(server.redis_url)
    content = {"kind": "image", "url": secret, "media_id": link_media_id(secret)}
    entry = {"type": "message", "direction": "out", "at": time.time(), "agent_id": "zeynep",
             "content": content}  # fmt: skip
    storage.client.rpush(storage.keys.log(cid), encode(entry))
    storage.close()
    refused = await server.media(cid, link_media_id(secret), SUPERVISOR)
    assert refused.status_code == 404
    assert server.cdn.seen == []


def test_the_media_object_is_found_in_the_transcript_inbound_first() -> None:
    link = {"kind": "image", "url": "https://x.fbcdn.net/1.jpg", "media_id": "lnk_1"}
    entries: list[Any] = [
        {"type": "message", "direction": "out", "content": link},
        {"type": "message", "direction": "in", "content": {"kind": "text", "body": "x",
         "attachments": [{"kind": "document", "media_id": "eml_1"}, "junk"]}},
        {"type": "message", "direction": "in", "content": link},
        {"type": "delivery", "content": {"media_id": "lnk_2"}},
        "not an entry",
    ]  # fmt: skip
    assert _find_media(entries, "lnk_1") == (link, True)
    assert _find_media(entries[:1], "lnk_1") == (link, False)
    assert _find_media(entries, "eml_1") == ({"kind": "document", "media_id": "eml_1"}, True)
    assert _find_media(entries, "lnk_2") is None


async def test_a_link_outside_the_allowed_hosts_is_never_fetched(server: Server) -> None:
    # a link the provider sent, to a host the account does not allow (the server's
    # neighbours, cloud metadata...): the server refuses rather than becoming a proxy
    for n, url in enumerate(
        (
            "http://169.254.169.254/latest/meta-data/",
            server.cdn.url.replace("127.0.0.1", "localhost") + "/mine.jpg",
        )
    ):
        await server.webhook("instagram", *_meta("instagram", f"igsid-{n}", [_image(url)]))
        cid, [content] = await server.inbound("instagram", f"igsid-{n}")
        refused = await server.media(cid, content["media_id"], SUPERVISOR)
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["code"] == "media_host_not_allowed"
        assert "media_hosts" in error["message"]
    assert server.cdn.seen == []


@pytest.mark.parametrize(
    ("status", "answer", "code"),
    [(404, 404, "media_gone"), (410, 404, "media_gone"), (403, 404, "media_gone"),
     (500, 502, "provider_error"), (503, 502, "provider_error")],
)  # fmt: skip
async def test_a_provider_failure_is_a_clear_error_never_a_500(
    server: Server, status: int, answer: int, code: str
) -> None:
    url = server.cdn.serve(f"expired-{status}.jpg", File(status=status, body=b"<html>x</html>",
                                                         content_type="text/html"))  # fmt: skip
    sender = f"psid-{status}"
    await server.webhook("messenger", *_meta("page", sender, [_image(url)]))
    cid, [content] = await server.inbound("messenger", sender)
    failed = await server.media(cid, content["media_id"], SUPERVISOR)
    assert failed.status_code == answer
    error = failed.json()["error"]
    assert error["code"] == code
    assert f"HTTP {status}" in error["message"] and "Messenger" in error["message"]


async def test_a_file_over_the_account_s_limit_is_refused(server: Server) -> None:
    url = server.cdn.serve("big.jpg", File(body=IMAGE, content_type="image/jpeg"))
    body, headers = _meta("page", "psid-big", [_image(url)])
    # an account of the same page that takes files up to 100 bytes
    await server.webhook("messenger", body, headers, account="small-messenger")
    cid, [content] = await server.inbound("messenger", "psid-big", "small-messenger")
    refused = await server.media(cid, content["media_id"], SUPERVISOR)
    assert refused.status_code == 502
    error = refused.json()["error"]
    assert error["code"] == "media_too_large"
    assert "media_max_bytes (100 bytes)" in error["message"]


# -- Viber ---------------------------------------------------------------------------------------


async def test_viber_pictures_and_files_stream_from_viber_s_media_server(server: Server) -> None:
    picture = server.cdn.serve("5/media/2/short/any/sig/image/0x0/a1b2/c3d4.jpg",
                               File(body=IMAGE, content_type="image/jpeg"))  # fmt: skip
    unsized = File(body=PDF, content_type="application/pdf", chunked=True)
    document = server.cdn.serve("5/share/2/long/vibes/icon/file/m3n4/fatura.pdf", unsized)
    await server.webhook("viber", *_viber("viber-ada", {"type": "picture", "media": picture,
                                                        "text": "Faturam"}))  # fmt: skip
    await server.webhook("viber", *_viber("viber-ada", {
        "type": "file", "media": document, "file_name": "fatura.pdf", "size": len(PDF),
    }))  # fmt: skip
    with trio.fail_after(10):
        while True:
            cid, contents = await server.inbound("viber", "viber-ada")
            if len(contents) == 2:
                break
            await trio.sleep(0.05)
    image, pdf = contents
    assert image == {"kind": "image", "url": picture, "media_id": link_media_id(picture),
                     "caption": "Faturam"}  # fmt: skip
    got = await server.media(cid, image["media_id"], SUPERVISOR)
    assert (got.status_code, got.content) == (200, IMAGE)
    assert got.headers["content-type"] == "image/jpeg"
    got = await server.media(cid, pdf["media_id"], SUPERVISOR)
    assert (got.status_code, got.content) == (200, PDF)
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"] == 'inline; filename="fatura.pdf"'
    assert "content-length" not in got.headers  # Viber's server did not say: streamed as is
    assert (await server.media(cid, pdf["media_id"], OTHER_WORKSPACE)).status_code == 404


# -- e-mail --------------------------------------------------------------------------------------


async def test_inline_mail_attachments_are_kept_on_disk_and_served(server: Server) -> None:
    files = {"attachment-1": ("fatura.pdf", "application/pdf", PDF),
             "attachment-2": ("Hasar fotoğrafı.jpg", "image/jpeg", IMAGE)}  # fmt: skip
    await server.webhook("email", *_mail("ada@example.com", "m1@example.com", files))
    cid, [content] = await server.inbound("email", "ada@example.com")
    pdf, photo = content["attachments"]
    assert (pdf["filename"], pdf["size"], pdf["media_id"][:4]) == ("fatura.pdf", len(PDF), "eml_")
    blobs = blob_root(server.data_dir)
    assert (blobs / pdf["media_id"]).read_bytes() == PDF  # on disk, never in Redis
    assert (blobs / photo["media_id"]).read_bytes() == IMAGE

    got = await server.media(cid, pdf["media_id"], SUPERVISOR)
    assert (got.status_code, got.content) == (200, PDF)
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-length"] == str(len(PDF))
    got = await server.media(cid, photo["media_id"], SUPERVISOR)
    assert (got.status_code, got.content) == (200, IMAGE)
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["content-disposition"] == (  # ASCII for old clients, UTF-8 for the rest
        "inline; filename=\"Hasar foto_raf_.jpg\"; filename*=UTF-8''Hasar%20foto%C4%9Fraf%C4%B1.jpg"
    )
    assert (await server.media(cid, pdf["media_id"], OTHER_WORKSPACE)).status_code == 404

    # Mailgun's retry of the same mail: a duplicate, and the same files (kept once)
    kept = sorted(p.name for p in blobs.iterdir())
    body, headers = _mail("ada@example.com", "m1@example.com", files)
    retry = await server.http.post("/webhooks/email/demo-email", content=body, headers=headers)
    assert retry.json() == {"accepted": 0, "duplicates": 1}
    assert sorted(p.name for p in blobs.iterdir()) == kept


async def test_stored_mail_files_are_fetched_with_the_api_key(server: Server) -> None:
    basic = "Basic " + base64.b64encode(f"api:{API_KEY}".encode()).decode()
    base = "v3/domains/mg.example.com/messages/BAABAQ"
    stored = server.cdn.serve(f"{base}/attachments/0", File(
        body=PDF, content_type="application/pdf", authorization=basic,
    ))  # fmt: skip
    links = json.dumps([{"url": stored, "content-type": "application/pdf", "name": "fatura.pdf",
                         "size": len(PDF)}])  # fmt: skip
    await server.webhook("email", *_mail("bora@example.com", "m2@example.com", {},
                                         attachments=links))  # fmt: skip
    cid, [content] = await server.inbound("email", "bora@example.com")
    [attachment] = content["attachments"]
    assert attachment["media_id"] == link_media_id(stored) and attachment["url"] == stored
    got = await server.media(cid, attachment["media_id"], SUPERVISOR)
    assert (got.status_code, got.content) == (200, PDF)
    assert got.headers["content-disposition"] == 'inline; filename="fatura.pdf"'
    assert server.cdn.seen[-1].authorization == basic  # Mailgun's basic auth, api:<key>


async def test_a_mail_whose_files_cannot_be_kept_is_refused_for_a_retry(server: Server) -> None:
    blobs = blob_root(server.data_dir)
    blobs.parent.mkdir(parents=True)
    blobs.write_text("a file where the directory should be")  # an unwritable data directory
    files = {"attachment-1": ("fatura.pdf", "application/pdf", PDF)}
    body, headers = _mail("cem@example.com", "m3@example.com", files)
    refused = await server.http.post("/webhooks/email/demo-email", content=body, headers=headers)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "files_unavailable"
    blobs.unlink()  # fixed: Mailgun's retry is taken, as new (nothing was recorded)
    body, headers = _mail("cem@example.com", "m3@example.com", files)
    taken = await server.http.post("/webhooks/email/demo-email", content=body, headers=headers)
    assert taken.json() == {"accepted": 1, "duplicates": 0}
    cid, [content] = await server.inbound("email", "cem@example.com")
    got = await server.media(cid, content["attachments"][0]["media_id"], SUPERVISOR)
    assert (got.status_code, got.content) == (200, PDF)


async def test_a_kept_file_is_served_only_in_its_own_account_s_conversations(
    server: Server,
) -> None:
    files = {"attachment-1": ("fatura.pdf", "application/pdf", PDF)}
    await server.webhook("email", *_mail("deniz@example.com", "m4@example.com", files))
    _, [mail] = await server.inbound("email", "deniz@example.com")
    kept = mail["attachments"][0]["media_id"]
    await server.webhook("messenger", *_meta("page", "psid-deniz", [_image(server.cdn.url)]))
    cid, _ = await server.inbound("messenger", "psid-deniz")
    # an agent names the mail's file in a Messenger chat: not this account's file
    storage = Storage(server.redis_url)
    entry = {"type": "message", "direction": "out", "at": time.time(), "agent_id": "zeynep",
             "content": {"kind": "document", "media_id": kept}}  # fmt: skip
    storage.client.rpush(storage.keys.log(cid), encode(entry))
    storage.close()
    refused = await server.media(cid, kept, SUPERVISOR)
    assert refused.status_code == 404
    assert refused.json()["error"]["message"] == f"no media {kept} in conversation {cid}"
