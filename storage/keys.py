"""The key layout in Redis, in one place (see docs/storage.md).

Every key starts with the prefix (``sb`` by default) so one Redis may hold other
data.  Conversation, agent and customer ids are unique across workspaces;
indexes and configuration are per workspace.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Keys"]


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "sb"

    # -- live state -------------------------------------------------------------
    def conversation(self, conversation_id: str) -> str:
        """String: the conversation's current snapshot."""
        return f"{self.prefix}:conv:{conversation_id}"

    def log(self, conversation_id: str) -> str:
        """List: the conversation's event log (messages, assignments, status changes)."""
        return f"{self.prefix}:log:{conversation_id}"

    @property
    def open(self) -> str:
        """Set: ids of conversations not yet resolved."""
        return f"{self.prefix}:open"

    def agent(self, agent_id: str) -> str:
        """String: the agent's snapshot (status and since when, capacity, chats)."""
        return f"{self.prefix}:agent:{agent_id}"

    @property
    def agents(self) -> str:
        """Set: ids of every agent with a snapshot."""
        return f"{self.prefix}:agents"

    @property
    def customers(self) -> str:
        """Hash: customer id -> identities, links and last agent."""
        return f"{self.prefix}:customers"

    @property
    def last_closed(self) -> str:
        """Hash: "customer|channel|account" -> the last resolved conversation there."""
        return f"{self.prefix}:lastclosed"

    def profile(self, customer_id: str) -> str:
        """Hash: what agents wrote about a customer (name, notes, favourite, spam)."""
        return f"{self.prefix}:profile:{customer_id}"

    @property
    def calls(self) -> str:
        """Hash: call id -> the voice call in progress (customer, agent)."""
        return f"{self.prefix}:calls"

    @property
    def inbox(self) -> str:
        """Stream: accepted customer messages not yet recorded by their conversation."""
        return f"{self.prefix}:inbox"

    @property
    def outbox(self) -> str:
        """Stream: outbound messages not yet handed to their provider."""
        return f"{self.prefix}:outbox"

    def provider_message(self, channel: str, account: str, provider_id: str) -> str:
        """String with a TTL: our "conversation|message" id of a sent provider message."""
        return f"{self.prefix}:pmsg:{channel}:{account}:{provider_id}"

    @property
    def counters(self) -> str:
        """Hash: id counters (conversation, customer, queue sequence), reserved in blocks."""
        return f"{self.prefix}:counters"

    def dedupe(self, channel: str, account: str, provider_id: str) -> str:
        """String with a TTL: a provider message id already accepted."""
        return f"{self.prefix}:seen:{channel}:{account}:{provider_id}"

    # -- web chat (server/webchat.py) ------------------------------------------------
    def webchat_session(self, token_sha256: str) -> str:
        """String with a TTL: ``account|customer_ref`` of a resume token, by its SHA-256."""
        return f"{self.prefix}:webchat:session:{token_sha256}"

    def webchat_customer(self, customer_ref: str) -> str:
        """String with a TTL: a web chat customer as JSON (name, identities, conversation)."""
        return f"{self.prefix}:webchat:customer:{customer_ref}"

    # -- archive indexes (sorted sets, score = creation time) ---------------------
    def index(self, workspace: str, dimension: str, value: str) -> str:
        return f"{self.prefix}:idx:{workspace}:{dimension}:{value}"

    def index_all(self, workspace: str) -> str:
        return f"{self.prefix}:idx:{workspace}:all"

    def scratch(self, token: str) -> str:
        """A short-lived intersection of indexes for one archive query."""
        return f"{self.prefix}:tmp:{token}"

    # -- configuration --------------------------------------------------------------
    def config(self, workspace: str, kind: str) -> str:
        """Hash: id -> record, for agents, queues, accounts, topics, canned replies."""
        return f"{self.prefix}:cfg:{workspace}:{kind}"

    @property
    def workspaces(self) -> str:
        return f"{self.prefix}:workspaces"
