"""The pure routing core: data and decisions, no actors, threads or sockets.

Import from the modules themselves (``actors.routing.capacity``, ``.lifecycle``,
``.strategies``, ``.affinity``, ``.model``); this package re-exports nothing so that
importing the vocabulary never pulls in optional libraries.
"""

__all__: list[str] = []
