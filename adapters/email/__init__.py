"""E-mail: Mailgun-style inbound-parse webhooks in (``form``, ``signing``, ``inbound``),
replies out by SMTP (``outbound`` builds the mail, ``smtp`` hands it over).

Everything but ``smtp`` is pure.  ``docs/channels/email.md`` describes set-up, what is
supported each way, the fallbacks and the limits.
"""

from __future__ import annotations

from adapters.email.adapter import EmailAdapter
from adapters.email.form import Form, Upload, parse_form
from adapters.email.inbound import inbound_message
from adapters.email.outbound import Sender, build_email, render_text
from adapters.email.signing import TokenCache, check_signature, sign
from adapters.email.smtp import Envelope, SmtpClient, SmtpConfig

__all__ = [
    "EmailAdapter",
    "Envelope",
    "Form",
    "Sender",
    "SmtpClient",
    "SmtpConfig",
    "TokenCache",
    "Upload",
    "build_email",
    "check_signature",
    "inbound_message",
    "parse_form",
    "render_text",
    "sign",
]
