"""What sign-in tells the rest of the server, without knowing who listens (blinker signals,
sent with the app as sender, after the change is committed)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: A citizen signed in: ``citizen_id``, the ``response`` about to be sent (a receiver may set a
#: cookie on it) and ``new_session`` (False for a step-up of the browser's session).
signed_in = _signals.signal("idp.signed-in")

#: Too many failed sign-ins locked the account: ``citizen_id``.
account_locked = _signals.signal("idp.account-locked")
