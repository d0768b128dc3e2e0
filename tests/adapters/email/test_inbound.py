"""adapters.email.inbound: Mailgun inbound-parse POSTs to the customer's message."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from adapters.base import InboundFile, InboundItem, WebhookResult
from adapters.content import Text, content_from_wire
from adapters.email.adapter import EmailAdapter
from adapters.email.form import Form, Upload, parse_form
from adapters.email.inbound import MAX_REFERENCES, inbound_message
from adapters.errors import WebhookError
from adapters.links import link_media_id
from tests.adapters.email.mailgun import (
    HEADERS,
    NOW,
    PDF,
    PHOTO,
    SIGNING_KEY,
    content_type,
    forward_fields,
    multipart,
    signed,
    urlencoded,
)

CUSTOMER = "ayse.yilmaz@example.com"
GMAIL_ID = "CAGv4Tq9Xk=8s6bH+Mz2dQ@mail.gmail.com"
THREAD = {
    "message_id": GMAIL_ID,
    "references": ["sb-41@acme.com.tr"],
    "subject": "Re: Siparişim nerede?",
    "in_reply_to": "sb-41@acme.com.tr",
}


def test_a_forwarded_reply_with_files_in_full() -> None:
    body, ctype = multipart(
        forward_fields(**{"attachment-count": "2"}),
        {"attachment-1": ("fatura.pdf", "application/pdf", PDF),
         "attachment-2": ("IMG_0042.JPG", "image/jpeg", PHOTO)},
    )  # fmt: skip
    adapter = EmailAdapter(clock=lambda: NOW)
    headers = content_type(ctype)
    settings = {"signing_key": SIGNING_KEY}
    adapter.verify(body, headers, settings)
    result = adapter.parse(body, headers, settings)
    pdf_id, photo_id = (a["media_id"] for a in result.messages[0].extra["attachments"])
    assert all(re.fullmatch(r"eml_[A-Za-z0-9_-]{24}", i) for i in (pdf_id, photo_id))
    assert pdf_id != photo_id
    assert result == WebhookResult(
        messages=(
            InboundItem(
                provider_message_id=GMAIL_ID,
                sender=CUSTOMER,
                timestamp=NOW,
                content=Text("Merhaba,\n\nKargo hâlâ gelmedi, fatura ektedir."),
                profile_name="Ayşe Yılmaz",
                identities=(("email", CUSTOMER),),
                extra={
                    "context": {"reply_to": "sb-41@acme.com.tr", "forwarded": False,
                                "frequently_forwarded": False},
                    "thread": THREAD,
                    "attachments": [
                        {"kind": "document", "media_id": pdf_id, "mime_type": "application/pdf",
                         "filename": "fatura.pdf", "size": len(PDF)},
                        {"kind": "image", "media_id": photo_id, "mime_type": "image/jpeg",
                         "filename": "IMG_0042.JPG", "size": len(PHOTO)},
                    ],
                },
            ),
        ),
        # the bytes, for the server to keep on disk before the message is written
        files=(InboundFile(pdf_id, PDF, "application/pdf", "fatura.pdf"),
               InboundFile(photo_id, PHOTO, "image/jpeg", "IMG_0042.JPG")),
    )  # fmt: skip


def test_verify_and_parse_read_one_post_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[bytes] = []

    def counting(raw: bytes, ctype: str | None) -> Form:
        reads.append(raw)
        return parse_form(raw, ctype)

    monkeypatch.setattr("adapters.email.adapter.parse_form", counting)
    body, ctype = multipart(forward_fields())
    adapter = EmailAdapter(clock=lambda: NOW)
    adapter.verify(body, content_type(ctype), {"signing_key": SIGNING_KEY})
    first = adapter.parse(body, content_type(ctype), {})
    assert len(reads) == 1
    assert adapter._last is None  # not kept past its request
    again = adapter.parse(bytes(bytearray(body)), content_type(ctype), {})  # equal, not same
    assert len(reads) == 2
    assert first == again


def stored_fields() -> dict[str, str]:
    """Mailgun's "store and notify": links to the stored files instead of the files."""
    base = "https://storage-europe-west1.api.mailgun.net/v3/domains/mg.acme.com.tr/messages/BAABAQ"
    fields = forward_fields(**{"attachment-count": None, "stripped-text": "Ekte fotoğraf var."})
    fields["attachments"] = json.dumps([
        {"url": f"{base}/attachments/0", "content-type": "image/png", "name": "hasar.png",
         "size": 48213},
        {"url": f"{base}/attachments/1", "content-type": "video/mp4", "name": "kutu.mp4",
         "size": 1048576},
        {"url": f"{base}/attachments/2", "content-type": "audio/mpeg", "name": "not.mp3"},
    ])  # fmt: skip
    fields["content-id-map"] = json.dumps({"<ii_lvn3k2a10>": f"{base}/attachments/0"})
    fields["message-url"] = f"{base}"
    return fields


def test_stored_mails_bring_links_agents_can_open() -> None:
    item = inbound_message(Form(stored_fields()))
    assert item.content == Text("Ekte fotoğraf var.")
    base = "https://storage-europe-west1.api.mailgun.net/v3/domains/mg.acme.com.tr/messages/BAABAQ"
    ids = [link_media_id(f"{base}/attachments/{i}") for i in range(3)]
    assert item.extra["attachments"] == [
        {"kind": "image", "media_id": ids[0], "mime_type": "image/png",
         "url": f"{base}/attachments/0", "filename": "hasar.png", "size": 48213,
         "content_id": "ii_lvn3k2a10"},
        {"kind": "video", "media_id": ids[1], "mime_type": "video/mp4",
         "url": f"{base}/attachments/1", "filename": "kutu.mp4", "size": 1048576},
        {"kind": "audio", "media_id": ids[2], "mime_type": "audio/mpeg",
         "url": f"{base}/attachments/2", "filename": "not.mp3"},
    ]  # fmt: skip
    # a linked attachment is a valid media reference of the content model
    image = content_from_wire(item.extra["attachments"][0])
    assert image.to_wire() == {"kind": "image", "media_id": ids[0], "mime_type": "image/png",
                               "url": f"{base}/attachments/0"}  # fmt: skip


def test_an_url_encoded_post_parses_like_a_multipart_one() -> None:
    form_body, ctype = urlencoded(stored_fields())
    multi_body, mtype = multipart(stored_fields())
    adapter = EmailAdapter()
    assert adapter.parse(form_body, content_type(ctype), {}) == adapter.parse(
        multi_body, content_type(mtype), {}
    )


FIRST_MAIL: dict[str, str | None] = {
    "In-Reply-To": None, "References": None, "message-headers": None,
    "Subject": "Siparişim nerede?", "subject": "Siparişim nerede?",
    "stripped-text": "Merhaba, 42 numaralı siparişim nerede?", "body-plain": "ignored",
}  # fmt: skip

# (name, changes to a forwarded reply) -> (sender, profile name, content, what in extra)
CASES: dict[str, tuple[dict[str, str | None], str, str | None, Text, dict[str, Any]]] = {
    "a first mail opens a thread": (
        FIRST_MAIL, CUSTOMER, "Ayşe Yılmaz", Text("Merhaba, 42 numaralı siparişim nerede?"),
        {"thread": {"message_id": GMAIL_ID, "references": [], "subject": "Siparişim nerede?"}},
    ),
    "without stripped-text the whole text": (
        {"stripped-text": ""}, CUSTOMER, "Ayşe Yılmaz",
        Text("Merhaba,\n\nKargo hâlâ gelmedi, fatura ektedir.\n\nAyşe\n\nOn Tue, Apr 30, 2024 at"
             " 5:00 PM Acme Destek <destek@acme.com.tr> wrote:\n> Siparişiniz kargoya verildi."),
        {"thread": THREAD},
    ),
    "an HTML-only mail is read as text": (
        {"stripped-text": None, "body-plain": None, "stripped-html": None,
         "body-html": "<html><head><style>p{color:red}</style></head><body><p>Kargo &amp; "
                      "fatura</p><p>Takip: <a href='https://kargo.example/42'>buradan</a>"
                      "</p><script>x()</script></body></html>"},
        CUSTOMER, "Ayşe Yılmaz", Text("Kargo & fatura\n\nTakip: buradan (https://kargo.example/42)"),
        {"thread": THREAD},
    ),
    "a mail with no text at all shows its subject": (
        {"stripped-text": "", "body-plain": "  \r\n", "stripped-html": None, "body-html": None},
        CUSTOMER, "Ayşe Yılmaz", Text("Re: Siparişim nerede?"), {"thread": THREAD},
    ),
    "an encoded display name and subject are decoded": (
        {"from": "=?UTF-8?B?QXnFn2UgWcSxbG1heg==?= <ayse.yilmaz@example.com>",
         "subject": "=?UTF-8?Q?Re:_Sipari=C5=9Fim_nerede=3F?="},
        CUSTOMER, "Ayşe Yılmaz", Text("Merhaba,\n\nKargo hâlâ gelmedi, fatura ektedir."),
        {"thread": THREAD},
    ),
    "a bare address has no profile name": (
        {"from": "AYSE.YILMAZ@EXAMPLE.COM"}, CUSTOMER, None,
        Text("Merhaba,\n\nKargo hâlâ gelmedi, fatura ektedir."), {"thread": THREAD},
    ),
    "an unusable From falls back to the envelope sender": (
        {"from": "undisclosed-recipients:;"}, CUSTOMER, None,
        Text("Merhaba,\n\nKargo hâlâ gelmedi, fatura ektedir."), {"thread": THREAD},
    ),
    "threading headers only in message-headers": (
        {"Message-Id": None, "In-Reply-To": None, "References": None}, CUSTOMER, "Ayşe Yılmaz",
        Text("Merhaba,\n\nKargo hâlâ gelmedi, fatura ektedir."), {"thread": THREAD},
    ),
    "References without In-Reply-To": (
        {"In-Reply-To": None, "message-headers": None,
         "References": "<root@acme.com.tr>\r\n <sb-41@acme.com.tr>"},
        CUSTOMER, "Ayşe Yılmaz", Text("Merhaba,\n\nKargo hâlâ gelmedi, fatura ektedir."),
        {"thread": {"message_id": GMAIL_ID, "references": ["root@acme.com.tr", "sb-41@acme.com.tr"],
                    "subject": "Re: Siparişim nerede?"}},
    ),
    "an out-of-office answer is marked": (
        {"Auto-Submitted": "auto-replied; owner-email=ayse@example.com"}, CUSTOMER, "Ayşe Yılmaz",
        Text("Merhaba,\n\nKargo hâlâ gelmedi, fatura ektedir."),
        {"thread": THREAD, "auto_submitted": "auto-replied"},
    ),
    "Auto-Submitted: no is a person": (
        {"Auto-Submitted": "no"}, CUSTOMER, "Ayşe Yılmaz",
        Text("Merhaba,\n\nKargo hâlâ gelmedi, fatura ektedir."), {"thread": THREAD},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_each_kind_of_mail(case: str) -> None:
    changes, sender, name, content, extra = CASES[case]
    item = inbound_message(Form(forward_fields(**changes)))
    assert (item.sender, item.profile_name, item.content) == (sender, name, content)
    assert item.identities == (("email", sender),)
    assert {k: v for k, v in item.extra.items() if k != "context"} == extra
    in_reply_to = extra["thread"].get("in_reply_to")
    assert item.extra.get("context", {}).get("reply_to") == in_reply_to


def test_a_mail_without_message_id_gets_a_stable_one() -> None:
    changes: dict[str, str | None] = {"Message-Id": None, "message-headers": None}
    first = inbound_message(Form(forward_fields(**changes)))
    retried = inbound_message(Form(forward_fields(**changes, **signed(NOW + 600, "t" * 50))))
    other = inbound_message(Form(forward_fields(**changes, **{"body-plain": "başka"})))
    assert first.provider_message_id.startswith("no-message-id.")
    assert retried.provider_message_id == first.provider_message_id
    assert other.provider_message_id != first.provider_message_id
    assert first.extra["thread"]["message_id"] == first.provider_message_id


def test_long_reference_chains_keep_the_root_and_the_latest() -> None:
    chain = " ".join(f"<m{i}@x.example>" for i in range(60))
    item = inbound_message(Form(forward_fields(References=chain, **{"message-headers": None})))
    references = item.extra["thread"]["references"]
    assert len(references) == MAX_REFERENCES
    assert references[0] == "m0@x.example"
    assert references[1:] == [f"m{i}@x.example" for i in range(41, 60)]


def test_the_date_header_stamps_a_post_without_timestamp() -> None:
    item = inbound_message(Form(forward_fields(timestamp=None)))
    assert item.timestamp == 1714564785.0  # Wed, 1 May 2024 14:59:45 +0300


def test_only_attachment_fields_are_files() -> None:
    upload = Upload(field="attachment-1", filename=None, content_type="text/calendar", size=9)
    other = Upload(field="logo", filename="x.png", content_type="image/png", size=1)
    item = inbound_message(Form(forward_fields(), (upload, other)))
    [only] = item.extra["attachments"]
    assert only == {"kind": "document", "media_id": only["media_id"], "mime_type": "text/calendar",
                    "size": 9}  # fmt: skip


def test_unknown_fields_are_ignored_and_a_bad_content_id_map_is_only_a_hint() -> None:
    item = inbound_message(Form(forward_fields(**{"X-Mailgun-Variables": "{", "content-id-map":
                                                  "not json"})))  # fmt: skip
    assert item.provider_message_id == GMAIL_ID


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"from": "nobody", "sender": ""}, "from: no e-mail address of the customer"),
        ({"from": None, "sender": None, "From": None, "message-headers": None},
         "from: no e-mail address"),
        ({"timestamp": "soon"}, "timestamp: 'soon' is not epoch seconds"),
        ({"timestamp": None, "Date": None, "message-headers": None}, "timestamp: missing"),
        ({"attachments": "[{"}, "attachments: not JSON"),
        ({"attachments": "{}"}, "attachments: expected a JSON list"),
        ({"attachments": "[1]"}, r"attachments\[0\]: expected an object"),
        ({"attachments": '[{"url": "file:///etc/passwd"}]'},
         r"attachments\[0\].url: expected an http\(s\) URL"),
        ({"Message-Id": None, "message-headers": '[["Message-Id"]]'},
         r"message-headers\[0\]: expected \[name, value\]"),
        ({"Message-Id": None, "message-headers": "{"}, "message-headers: not JSON"),
    ],
)  # fmt: skip
def test_a_malformed_mail_is_refused_with_the_field(
    changes: dict[str, str | None], reason: str
) -> None:
    with pytest.raises(WebhookError, match=reason):
        inbound_message(Form(forward_fields(**changes)))


def test_the_fixture_headers_are_what_mailgun_lists() -> None:
    assert [name for name, _ in HEADERS].count("Received") == 2  # repeated headers exist
