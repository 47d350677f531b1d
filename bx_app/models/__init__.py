"""SQLAlchemy models of the app: portals, credentials, UIS accounts, settings and the event journal."""
from datetime import datetime

from bx_app.extensions import db
from bx_app.models.timeutil import UtcDateTime

# Every `Mapped[datetime]` column stores UTC and reads back aware (must run before the models are declared).
db.Model.registry.update_type_annotation_map({datetime: UtcDateTime})

from bx_app.models.account import Credential, InstallClaim, Portal, UisAccount  # noqa: E402
from bx_app.models.event import Event, PollCursor  # noqa: E402
from bx_app.models.reference import EmployeeLink, ReferenceData  # noqa: E402
from bx_app.models.settings import ChannelSettings  # noqa: E402

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
