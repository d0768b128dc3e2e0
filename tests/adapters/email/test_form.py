"""adapters.email.form: the two form encodings Mailgun posts, read into fields and uploads."""

from __future__ import annotations

import pytest

from adapters.email.form import MAX_FIELDS, Form, Upload, parse_form
from adapters.errors import WebhookError
from tests.adapters.email.mailgun import PDF, PHOTO, forward_fields, multipart, urlencoded


def test_multipart_fields_and_files_are_read_files_by_description_only() -> None:
    fields = forward_fields()
    body, ctype = multipart(
        fields,
        {"attachment-1": ("fatura çok önemli.pdf", "application/pdf", PDF),
         "attachment-2": ("IMG_0042.JPG", "image/jpeg", PHOTO)},
    )  # fmt: skip
    form = parse_form(body, ctype)
    assert dict(form.fields) == fields  # CRLF inside values survives, UTF-8 decoded
    assert form.uploads == (
        Upload(field="attachment-1", filename="fatura çok önemli.pdf",
               content_type="application/pdf", size=len(PDF)),
        Upload(field="attachment-2", filename="IMG_0042.JPG", content_type="image/jpeg",
               size=len(PHOTO)),
    )  # fmt: skip
    assert form.repeated == frozenset()


def test_urlencoded_reads_like_multipart() -> None:
    fields = forward_fields()
    assert dict(parse_form(*urlencoded(fields)).fields) == fields


def test_content_type_parameters_and_case_do_not_matter() -> None:
    body, _ = urlencoded({"a": "1"})
    form = parse_form(body, "Application/X-WWW-Form-Urlencoded; charset=UTF-8")
    assert form.get("a") == "1"
    body, ctype = multipart({"a": "1"}, boundary="XyZ")
    assert parse_form(body, 'multipart/form-data; boundary="XyZ"').get("a") == "1"
    del ctype


def test_rfc_2231_file_names_and_files_without_type() -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="attachment-1"; '
        b"filename*=UTF-8''s%C3%B6zle%C5%9Fme.pdf\r\n\r\n%PDF\r\n"
        b'--b\r\nContent-Disposition: form-data; name="attachment-2"; filename=""\r\n\r\n\r\n'
        b"--b--\r\n"
    )
    form = parse_form(body, "multipart/form-data; boundary=b")
    assert form.uploads == (
        Upload(field="attachment-1", filename="sözleşme.pdf",
               content_type="application/octet-stream", size=4),
        Upload(field="attachment-2", filename=None, content_type="application/octet-stream",
               size=0),
    )  # fmt: skip


def test_a_field_given_twice_is_refused_only_when_read() -> None:
    body, ctype = urlencoded({})
    form = parse_form(b"Received=a&Received=b&from=x%40y.z", ctype)
    assert form.repeated == {"Received"}
    assert form.get("from") == "x@y.z"
    with pytest.raises(WebhookError, match="Received: the field appears more than once"):
        form.get("Received")
    del body


def test_header_fields_are_found_whatever_their_case() -> None:
    form = Form({"Message-ID": "<a@b>", "in-reply-to": "<c@d>"})
    assert form.header("Message-Id") == "<a@b>"
    assert form.header("In-Reply-To") == "<c@d>"
    assert form.header("References") is None
    both = Form({"Message-Id": "<a@b>", "message-id": "<c@d>"})
    with pytest.raises(WebhookError, match="Message-Id: the field appears more than once"):
        both.header("Message-Id")


def test_undecodable_bytes_become_replacement_characters() -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="body-plain"\r\n\r\nfatura \xff\r\n--b--\r\n'
    )
    assert parse_form(body, "multipart/form-data; boundary=b").get("body-plain") == "fatura \ufffd"


def test_a_field_with_its_own_charset_is_decoded_with_it() -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="subject"\r\n'
        b"Content-Type: text/plain; charset=iso-8859-9\r\n\r\nSipari\xfe\r\n--b--\r\n"
    )
    assert parse_form(body, "multipart/form-data; boundary=b").get("subject") == "Sipariş"


FULL, FULL_TYPE = multipart({"from": "a@b.c", "subject": "x"}, boundary="b")


@pytest.mark.parametrize(
    ("raw", "ctype", "reason"),
    [
        (b"a=1", None, "Content-Type: missing"),
        (b"{}", "application/json", "Content-Type: 'application/json' is not a form"),
        (FULL[:-12], FULL_TYPE, "not a complete multipart/form-data body"),  # truncated
        (FULL, "multipart/form-data; boundary=other", "not a complete multipart/form-data"),
        (FULL, "multipart/form-data", "not a complete multipart/form-data body"),
        (FULL, "multipart/form-data; boundary=b\r\nX-Evil: 1", "contains a line break"),
        (b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n",
         "multipart/form-data; boundary=b", "body part 0: no form field name"),
        (b"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n"
         b"Content-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n",
         "multipart/form-data; boundary=b", "f: nested multipart fields are not supported"),
        ("&".join(["a=1"] * (MAX_FIELDS + 1)).encode(), "application/x-www-form-urlencoded",
         "body: Max number of fields exceeded"),
    ],
)  # fmt: skip
def test_a_malformed_form_is_refused_with_the_reason(
    raw: bytes, ctype: str | None, reason: str
) -> None:
    with pytest.raises(WebhookError, match=reason.replace("(", r"\(")):
        parse_form(raw, ctype)
