"""adapters.links: media a provider hands over as a URL, fetched only where allowed."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
import trio

from adapters import meta
from adapters.base import LinkMediaSource
from adapters.email import EmailAdapter
from adapters.email.adapter import MEDIA_HOSTS as EMAIL_HOSTS
from adapters.errors import ProviderError
from adapters.links import (
    DEFAULT_MAX_BYTES,
    HostRule,
    LinkPolicy,
    MediaGone,
    MediaRefused,
    MediaTooLarge,
    allowed,
    clean_mime,
    host_rules,
    is_link_id,
    link_media_id,
    link_policy,
    open_link,
)
from adapters.messenger import InstagramAdapter, MessengerAdapter
from adapters.viber import ViberAdapter
from adapters.viber.adapter import MEDIA_HOSTS as VIBER_HOSTS
from tests.support.fake_cdn import IMAGE, PDF, FakeCdn, File, running_cdn

META = meta.MEDIA_HOSTS


def test_a_link_id_is_short_opaque_and_stable() -> None:
    url = "https://scontent.xx.fbcdn.net/v/t1.15752-9/448020185_1234_n.jpg?oh=00_AYB&oe=66A1B2C3"
    media_id = link_media_id(url)
    assert media_id == link_media_id(url)  # a provider's retry names the same file
    assert media_id != link_media_id(url + "&x=1")
    assert media_id.startswith("lnk_") and len(media_id) == 28
    assert is_link_id(media_id)
    assert url.encode() not in base64.urlsafe_b64decode(media_id[4:])  # no URL inside
    for other in ("65463453", "wcu_" + "A" * 22, "lnk_short", "lnk_" + "A" * 23 + "!"):
        assert not is_link_id(other)


@pytest.mark.parametrize(
    ("setting", "url", "ok"),
    [
        # the defaults: https to Meta's CDN hosts and every host under them
        (None, "https://scontent.xx.fbcdn.net/v/1.jpg", True),
        (None, "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1", True),
        (None, "https://fbcdn.net/x", True),
        (None, "https://SCONTENT.XX.FBCDN.NET/v/1.jpg", True),
        (None, "http://scontent.xx.fbcdn.net/v/1.jpg", False),  # not over https
        (None, "https://scontent.xx.fbcdn.net:8443/v/1.jpg", False),  # another port
        (None, "https://evilfbcdn.net/x", False),  # a look-alike, not a subdomain
        (None, "https://fbcdn.net.evil.com/x", False),
        (None, "https://user:pw@scontent.xx.fbcdn.net/x", False),  # credentials in the URL
        (None, "https://169.254.169.254/latest/meta-data", False),
        (None, "file:///etc/passwd", False),
        (None, "not a url", False),
        ("", "https://cdn.fbsbx.com/v/a.mp4", True),  # empty: the defaults
        # a setting replaces the defaults
        ("cdn.example.com", "https://scontent.xx.fbcdn.net/v/1.jpg", False),
        ("cdn.example.com", "https://a.cdn.example.com/f", True),
        # an origin: exactly that scheme, host and port
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/files/1", True),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8081/files/1", False),
        ("http://127.0.0.1:8080", "https://127.0.0.1:8080/files/1", False),
        ("https://cdn.example.com", "https://cdn.example.com:443/f", True),
        ("https://cdn.example.com", "https://a.cdn.example.com/f", False),
        ("fbcdn.net, http://127.0.0.1:9", "http://127.0.0.1:9/x", True),
        ("fbcdn.net  http://127.0.0.1:9", "https://x.fbcdn.net/x", True),
    ],
)
def test_only_allowed_hosts_are_fetched(setting: str | None, url: str, ok: bool) -> None:
    assert allowed(url, host_rules(setting, META)) is ok


def test_host_rules_read_hosts_and_origins() -> None:
    assert host_rules("Fbcdn.NET, http://127.0.0.1:8080/", ()) == (
        HostRule("https", "fbcdn.net", None, subdomains=True),
        HostRule("http", "127.0.0.1", 8080, subdomains=False),
    )


@pytest.mark.parametrize(
    "entry", ["ftp://x.example", "https://x.example/path", "*.fbcdn.net", "bad_host", "http://"]
)
def test_a_bad_media_hosts_entry_is_named(entry: str) -> None:
    with pytest.raises(ValueError, match="media_hosts"):
        host_rules(entry, ())


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"media_hosts": "ftp://x"}, "media_hosts"),
        ({"media_max_bytes": "lots"}, "media_max_bytes"),
        ({"media_max_bytes": "0"}, "media_max_bytes"),
        ({"media_max_bytes": "1.5"}, "media_max_bytes"),
        ({"media_timeout_s": "-1"}, "media_timeout_s"),
        ({"media_timeout_s": "inf"}, "media_timeout_s"),
    ],
)
def test_a_bad_setting_is_an_operator_s_to_fix(settings: dict[str, str], problem: str) -> None:
    with pytest.raises(ProviderError, match=problem) as raised:
        link_policy(settings, META, provider="Messenger")
    assert not raised.value.retryable and not raised.value.permanent
    assert str(raised.value).startswith("Messenger error: account setting")


def test_the_policy_s_defaults_and_settings() -> None:
    assert link_policy({}, META, provider="x") == LinkPolicy(host_rules(None, META))
    policy = link_policy({"media_max_bytes": "1024", "media_timeout_s": "2.5"}, META,
                         provider="x")  # fmt: skip
    assert (policy.max_bytes, policy.timeout_s) == (1024, 2.5)
    assert DEFAULT_MAX_BYTES == 100 * 1024 * 1024


@pytest.mark.parametrize(
    ("given", "hint", "expected"),
    [
        ("image/jpeg", None, "image/jpeg"),
        ("text/plain; charset=utf-8", None, "text/plain; charset=utf-8"),
        (None, "application/pdf", "application/pdf"),
        ("application/octet-stream", "image/png", "image/png"),  # a CDN that does not say
        ("", None, "application/octet-stream"),
        ("image/jpeg\r\nSet-Cookie: x=1", None, "application/octet-stream"),
        ("görsel/jpeg", None, "application/octet-stream"),
        ("image/png; name=ğ.png", None, "image/png"),  # parameters that are not ASCII: dropped
    ],
)
def test_only_a_content_type_reaches_the_answer(
    given: str | None, hint: str | None, expected: str
) -> None:
    assert clean_mime(given, hint) == expected


# -- fetching, over a real local server ---------------------------------------------------------


@pytest.fixture
async def cdn(nursery: trio.Nursery) -> AsyncIterator[FakeCdn]:
    async with running_cdn(nursery) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def _policy(cdn: FakeCdn, **kw: float) -> LinkPolicy:
    return link_policy({"media_hosts": cdn.url, **{k: str(v) for k, v in kw.items()}}, (),
                       provider="Test")  # fmt: skip


async def _read(url: str, http: httpx.AsyncClient, policy: LinkPolicy, **kw: object) -> tuple[
    str, int | None, bytes
]:  # fmt: skip
    async with open_link(url, http, policy, provider="Test", **kw) as stream:  # type: ignore[arg-type]
        body = b"".join([chunk async for chunk in stream.chunks])
    return stream.mime_type, stream.size, body


async def test_a_file_is_streamed_with_its_type_and_length(
    cdn: FakeCdn, http: httpx.AsyncClient
) -> None:
    url = cdn.serve("v/t1/photo.jpg", File(body=IMAGE, content_type="image/jpeg"))
    assert await _read(url + "?oh=1&oe=2", http, _policy(cdn)) == (
        "image/jpeg", len(IMAGE), IMAGE
    )  # fmt: skip
    assert cdn.seen[-1].query == "oh=1&oe=2"  # the signed link as the provider gave it
    assert cdn.seen[-1].authorization is None  # no credentials unless the provider wants them


async def test_a_file_without_a_type_takes_the_message_s(
    cdn: FakeCdn, http: httpx.AsyncClient
) -> None:
    url = cdn.serve("f", File(body=PDF, content_type=None, chunked=True))
    mime, size, body = await _read(url, http, _policy(cdn), mime_type="application/pdf")
    assert (mime, size, body) == ("application/pdf", None, PDF)


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [(404, MediaGone, False), (410, MediaGone, False), (403, MediaGone, False),
     (500, ProviderError, True), (429, ProviderError, True), (401, ProviderError, False)],
)  # fmt: skip
async def test_provider_answers_become_precise_errors(
    cdn: FakeCdn, http: httpx.AsyncClient, status: int, kind: type[ProviderError], retryable: bool
) -> None:
    url = cdn.serve("x", File(status=status, body=b"nope"))
    with pytest.raises(kind) as raised:
        await _read(url, http, _policy(cdn))
    assert type(raised.value) is kind
    assert raised.value.http_status == status
    assert raised.value.retryable is retryable
    assert f"HTTP {status}" in str(raised.value)


async def test_a_host_outside_the_allow_list_is_never_asked(
    cdn: FakeCdn, http: httpx.AsyncClient
) -> None:
    url = cdn.serve("x", File(body=IMAGE))
    with pytest.raises(MediaRefused, match="not in the account's media_hosts"):
        await _read(url, http, link_policy({}, META, provider="Test"))
    assert cdn.seen == []


async def test_redirects_are_followed_only_to_allowed_hosts(
    cdn: FakeCdn, http: httpx.AsyncClient
) -> None:
    cdn.serve("real.jpg", File(body=IMAGE, content_type="image/jpeg"))
    hop = cdn.serve("hop", File(status=302, headers={"Location": "/real.jpg"}))
    assert (await _read(hop, http, _policy(cdn)))[2] == IMAGE
    assert [s.path for s in cdn.seen] == ["/hop", "/real.jpg"]
    away = cdn.serve("away", File(status=302, headers={"Location": "http://169.254.169.254/"}))
    with pytest.raises(MediaRefused):
        await _read(away, http, _policy(cdn))
    loop = cdn.serve("loop", File(status=302, headers={"Location": "/loop"}))
    with pytest.raises(ProviderError, match="redirects"):
        await _read(loop, http, _policy(cdn))


async def test_credentials_go_to_the_link_s_own_host_only(
    cdn: FakeCdn, http: httpx.AsyncClient
) -> None:
    url = cdn.serve("stored", File(body=PDF))
    await _read(url, http, _policy(cdn), auth=("api", "key-123"))
    expected = "Basic " + base64.b64encode(b"api:key-123").decode()
    assert cdn.seen[-1].authorization == expected
    # the same server under another name (another origin): no credentials follow the redirect
    other = cdn.url.replace("127.0.0.1", "localhost")
    hop = cdn.serve("hop", File(status=302, headers={"Location": f"{other}/stored"}))
    policy = link_policy({"media_hosts": f"{cdn.url} {other}"}, (), provider="Test")
    await _read(hop, http, policy, auth=("api", "key-123"))
    assert [(s.path, s.authorization) for s in cdn.seen[-2:]] == [
        ("/hop", expected), ("/stored", None)
    ]  # fmt: skip


async def test_a_file_over_the_limit_is_refused_or_cut_off(
    cdn: FakeCdn, http: httpx.AsyncClient
) -> None:
    announced = cdn.serve("big", File(body=PDF))
    with pytest.raises(MediaTooLarge, match="media_max_bytes"):
        await _read(announced, http, _policy(cdn, media_max_bytes=len(PDF) - 1))
    unannounced = cdn.serve("big-chunked", File(body=PDF, chunked=True))
    with pytest.raises(MediaTooLarge):
        await _read(unannounced, http, _policy(cdn, media_max_bytes=len(PDF) - 1))
    assert (await _read(unannounced, http, _policy(cdn, media_max_bytes=len(PDF))))[2] == PDF


async def test_an_unreachable_host_is_a_provider_error(http: httpx.AsyncClient) -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x"
    policy = link_policy({"media_hosts": f"http://127.0.0.1:{port}"}, (), provider="Test")
    with pytest.raises(ProviderError, match="could not fetch"):
        await _read(url, http, policy)


# -- the adapters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "adapter", [MessengerAdapter(), InstagramAdapter(), ViberAdapter(), EmailAdapter()],
    ids=lambda a: a.channel,
)  # fmt: skip
def test_url_channels_are_link_media_sources(adapter: object) -> None:
    assert isinstance(adapter, LinkMediaSource)


@pytest.mark.parametrize(
    ("adapter", "url"),
    [
        (MessengerAdapter(), "https://scontent.xx.fbcdn.net/v/1.jpg"),
        (InstagramAdapter(), "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"),
        (ViberAdapter(), "https://dl-media.viber.com/5/media/2/short/any/sig/image/0x0/a/b.jpg"),
    ],
    ids=["messenger", "instagram", "viber"],
)
async def test_each_adapter_fetches_its_cdn_and_nothing_else(
    cdn: FakeCdn, http: httpx.AsyncClient, adapter: LinkMediaSource, url: str
) -> None:
    local = cdn.serve("m.jpg", File(body=IMAGE, content_type="image/jpeg"))
    # the defaults admit the provider's CDN and nothing else: a test server must be listed
    with pytest.raises(MediaRefused):
        async with adapter.media_link(local, {}, http):
            pass
    async with adapter.media_link(local, {"media_hosts": cdn.url}, http) as stream:
        assert b"".join([c async for c in stream.chunks]) == IMAGE
    policy_hosts = link_policy({}, _defaults(adapter), provider="x").hosts
    assert allowed(url, policy_hosts)


def _defaults(adapter: object) -> tuple[str, ...]:
    return VIBER_HOSTS if isinstance(adapter, ViberAdapter) else meta.MEDIA_HOSTS


async def test_mailgun_s_stored_files_are_fetched_with_the_api_key(
    cdn: FakeCdn, http: httpx.AsyncClient
) -> None:
    basic = "Basic " + base64.b64encode(b"api:key-3ax6").decode()
    stored = File(body=PDF, content_type="application/pdf", authorization=basic)
    url = cdn.serve("v3/domains/mg.acme.com.tr/messages/BAAB/attachments/0", stored)
    adapter = EmailAdapter()
    with pytest.raises(ProviderError, match="api_key setting: missing"):
        async with adapter.media_link(url, {"media_hosts": cdn.url}, http):
            pass
    settings = {"media_hosts": cdn.url, "api_key": "key-3ax6"}
    async with adapter.media_link(url, settings, http) as stream:
        assert stream.mime_type == "application/pdf"
        assert b"".join([c async for c in stream.chunks]) == PDF
    assert cdn.seen[-1].authorization == basic
    with pytest.raises(ProviderError, match="HTTP 401") as raised:  # a wrong key
        async with adapter.media_link(url, {**settings, "api_key": "wrong"}, http):
            pass
    assert str(raised.value).startswith("Mailgun error")
    assert allowed(
        "https://storage-europe-west1.api.mailgun.net/v3/domains/x/messages/y/attachments/0",
        link_policy({}, EMAIL_HOSTS, provider="x").hosts,
    )
