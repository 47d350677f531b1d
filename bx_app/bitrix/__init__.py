"""The Bitrix24 side: REST client, rate limiter, OAuth server and typed errors (no Flask here)."""
from bx_app.bitrix.client import BatchResult, PortalClient, RestResult, TokenSource, batch_chunks
from bx_app.bitrix.errors import BitrixError, from_response
from bx_app.bitrix.limiter import LocalRateLimiter, PortalRateLimiter

__all__ = [
    "BatchResult",
    "BitrixError",
    "LocalRateLimiter",
    "PortalClient",
    "PortalRateLimiter",
    "RestResult",
    "TokenSource",
    "batch_chunks",
    "from_response",
]
