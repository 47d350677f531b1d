"""Words of the pure modules: their callers pass a translation function; without one, the Russian source text."""
from __future__ import annotations

from collections.abc import Callable

Translate = Callable[..., str]


def russian(text: str, **params) -> str:
    """The message as written in the source (Russian first), its parameters filled in, as gettext would."""
    return text % params if params else text
