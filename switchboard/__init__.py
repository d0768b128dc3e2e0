"""Switchboard: real-time routing server for omnichannel contact-center chat.

This package holds what ties the others together: the typed configuration
(``switchboard.config``), the ``switchboard`` command line (``switchboard.cli``) and the
benchmarks (``switchboard.bench``).
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
