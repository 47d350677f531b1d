"""SQLAlchemy models of the app: portals, credentials, UIS accounts, settings and the event journal."""
from bx_app.models.account import Credential, InstallClaim, Portal, UisAccount
from bx_app.models.event import Event, PollCursor
from bx_app.models.reference import EmployeeLink, ReferenceData
from bx_app.models.settings import ChannelSettings

__all__ = [
    "ChannelSettings",
    "Credential",
    "EmployeeLink",
    "Event",
    "InstallClaim",
    "PollCursor",
    "Portal",
    "ReferenceData",
    "UisAccount",
]
