"""Placeholder blueprint, filled in by the issue that owns it."""
from flask import Blueprint

bp = Blueprint("install", __name__)
