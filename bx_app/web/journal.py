"""Placeholder blueprint, filled in by the issue that owns it."""
from flask import Blueprint

bp = Blueprint("journal", __name__)
