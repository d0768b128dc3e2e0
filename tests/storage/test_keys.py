"""storage.keys: every key in one place, web chat's included, named as before."""

from __future__ import annotations

import hashlib

from server.webchat import ChatStore
from storage.keys import Keys


def test_web_chat_keys_are_declared_and_unchanged() -> None:
    # sessions already in Redis must still be found after the keys moved to Keys
    keys = Keys("sb")
    assert keys.webchat_session("ab12") == "sb:webchat:session:ab12"
    assert keys.webchat_customer("wc_x") == "sb:webchat:customer:wc_x"
    store = ChatStore(client=None, keys=Keys("acme"))
    token = "wct_" + "t" * 43
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert store.token_key(token) == f"acme:webchat:session:{digest}"
    assert store.customer_key("wc_x") == "acme:webchat:customer:wc_x"
