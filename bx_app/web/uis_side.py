"""Placeholder blueprint, filled in by the issue that owns it."""
from flask import Blueprint

bp = Blueprint("uis_side", __name__)
