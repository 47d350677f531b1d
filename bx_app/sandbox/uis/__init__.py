"""UIS sandbox: a stand-in for the UIS Data API and its notifications (never imported by production code)."""
from bx_app.sandbox.uis.app import create_uis_app

__all__ = ["create_uis_app"]
