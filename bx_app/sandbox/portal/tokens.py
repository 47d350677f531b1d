"""The authorization server's memory: authorization codes, access/refresh token pairs, token-endpoint stats."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field

CODE_LIFETIME_SECONDS = 30
DEFAULT_ACCESS_LIFETIME = 3600
REFRESH_LIFETIME_SECONDS = 180 * 24 * 3600


@dataclass
class AccessGrant:
    """One access/refresh pair, issued for one user of one portal."""

    access_token: str
    refresh_token: str
    port: int
    user_id: int
    issued_at: float
    expires_at: float
    lifetime: int
    refresh_used: bool = False
    access_revoked: str = ""  # "" | "rotated" | "uninstalled" | "expired"
    refresh_revoked: bool = False


@dataclass
class AuthorizationCode:
    code: str
    port: int
    user_id: int
    issued_at: float
    used: bool = False


@dataclass
class TokenStats:
    token_requests: dict[str, int] = field(default_factory=dict)
    token_errors: dict[str, int] = field(default_factory=dict)
    tokens_issued: int = 0
    app_info_requests: int = 0

    def as_json(self) -> dict:
        return {
            "token_requests": dict(self.token_requests),
            "token_errors": dict(self.token_errors),
            "tokens_issued": self.tokens_issued,
            "app_info_requests": self.app_info_requests,
        }


def _token(member_id: str, user_id: int) -> str:
    """70 hex chars shaped like Bitrix24's: random, a portal part, the user id, random."""
    return secrets.token_hex(4) + member_id[:16] + f"{user_id:08x}" + secrets.token_hex(19)


class TokenRegistry:
    """Codes and tokens of every portal; callers hold the sandbox lock."""

    def __init__(self) -> None:
        self.by_access: dict[str, AccessGrant] = {}
        self.by_refresh: dict[str, AccessGrant] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.stats = TokenStats()

    def reset_stats(self) -> None:
        self.stats = TokenStats()

    def issue(self, *, port: int, member_id: str, user_id: int, lifetime: int, now: float) -> AccessGrant:
        grant = AccessGrant(
            access_token=_token(member_id, user_id),
            refresh_token=_token(member_id, user_id),
            port=port, user_id=user_id, issued_at=now, expires_at=now + lifetime, lifetime=lifetime,
        )
        self.by_access[grant.access_token] = grant
        self.by_refresh[grant.refresh_token] = grant
        self.stats.tokens_issued += 1
        return grant

    def issue_code(self, *, port: int, user_id: int, now: float) -> AuthorizationCode:
        code = AuthorizationCode(code=secrets.token_hex(16), port=port, user_id=user_id, issued_at=now)
        self.codes[code.code] = code
        return code

    def take_code(self, code: str, now: float, accept=None) -> AuthorizationCode | None:
        """A valid code, consumed; None when unknown (or not `accept`ed: another server's), used or older
        than 30 s. A code shown to the wrong server stays unused."""
        found = self.codes.get(code)
        if found is None or (accept is not None and not accept(found)):
            return None
        if found.used or now - found.issued_at > CODE_LIFETIME_SECONDS:
            return None
        found.used = True
        return found

    def take_refresh(self, refresh_token: str, now: float) -> AccessGrant | None:
        """Rotate: the grant owning this refresh token, now spent (its access token dies with it)."""
        grant = self.by_refresh.get(refresh_token)
        if grant is None or grant.refresh_used or grant.refresh_revoked:
            return None
        if now - grant.issued_at > REFRESH_LIFETIME_SECONDS:
            return None
        grant.refresh_used = True
        if not grant.access_revoked:
            grant.access_revoked = "rotated"
        return grant

    def grants_of(self, port: int) -> list[AccessGrant]:
        return [g for g in self.by_access.values() if g.port == port]

    def revoke_portal(self, port: int) -> None:
        for grant in self.grants_of(port):
            grant.access_revoked = "uninstalled"
            grant.refresh_revoked = True

    def expire_portal(self, port: int, now: float) -> int:
        count = 0
        for grant in self.grants_of(port):
            if grant.expires_at > now:
                grant.expires_at = now - 1
                count += 1
        return count

    def forget_portal(self, port: int) -> None:
        for grant in self.grants_of(port):
            self.by_access.pop(grant.access_token, None)
            self.by_refresh.pop(grant.refresh_token, None)
        for code in [c for c in self.codes.values() if c.port == port]:
            self.codes.pop(code.code, None)
