"""Switchboard's actors: the agents, queues and conversations that own the routing facts."""
