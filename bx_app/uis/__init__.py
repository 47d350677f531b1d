"""The UIS side: Data API client, typed API errors, and parsing of UIS HTTP notifications."""
from bx_app.uis.client import DataApiClient, format_uis_time, parse_uis_time, split_date_window
from bx_app.uis.errors import UisError, error_from_envelope
from bx_app.uis.notifications import (
    NotificationInvalid,
    UisNotification,
    default_template,
    parse_notification,
)

__all__ = [
    "DataApiClient", "NotificationInvalid", "UisError", "UisNotification", "default_template",
    "error_from_envelope", "format_uis_time", "parse_notification", "parse_uis_time", "split_date_window",
]
