"""The citizen as one client sees them in one grant: who (``sub``), how and when they
authenticated, in which SSO session. Authlib passes it around as the grant's "user"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from idp.accounts.models import Citizen


@dataclass
class Grantee:
    citizen: Citizen
    sub: str
    auth_time: datetime
    acr: str | None = None
    amr: list[str] = field(default_factory=list)
    session_id: int | None = None
    sid: str | None = None

    def get_user_id(self) -> str:
        return self.sub
