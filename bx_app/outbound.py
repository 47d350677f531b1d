"""The outbound-address policy: which hosts the server may contact on a user's word, and a pinned transport.

A portal address typed on the UIS side, a `client_endpoint` from a token answer and a portal's redirect
all name a host chosen by someone outside. Before the server connects there, the name is resolved and
every address it resolves to must be public: not loopback, private, link-local, multicast, reserved,
unspecified, shared (CGNAT) or an IPv4-mapped/compatible/embedded form of those. The connection then
goes to the very address that was checked (no second resolution a DNS rebinding could change), while
TLS still verifies the certificate for the name (SNI) and the Host header carries the name.

`B24_ALLOW_INSECURE_PORTALS` (development and tests: portals on loopback over http) lifts the policy.
No Flask here: clients use it too; the caller turns `AddressForbidden.reason` into the user's language.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list]

# Names that never leave the machine or the local network, whatever DNS says about them.
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressForbidden(Exception):
    """The server will not connect there. ``reason``: insecure_scheme, invalid, internal, unresolvable."""

    def __init__(self, reason: str, host: str, detail: str = ""):
        super().__init__(f"{reason}: {host}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.host = host
        self.detail = detail


# --- every spelling of an IP address ------------------------------------------------------------
def _ipv4_part(text: str) -> int | None:
    """One dotted part as inet_aton and the URL standard read it: 0x.. hex, 0.. octal, else decimal."""
    if text[:2] in ("0x", "0X"):
        digits, base = text[2:], 16
        if not digits:
            return 0
    elif len(text) > 1 and text.startswith("0"):
        digits, base = text[1:], 8
    else:
        digits, base = text, 10
    allowed = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}[base]
    if not digits or not all(c in allowed for c in digits):
        return None
    try:
        return int(digits, base)
    except ValueError:
        return None


def _looks_numeric(label: str) -> bool:
    return bool(label) and (label.isdigit() or (label[:2] in ("0x", "0X") and all(
        c in "0123456789abcdefABCDEF" for c in label[2:])))


def ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes by itself (`127.1`, `0x7f.0.0.1`, `2130706433`, `[::1]`…), or None.

    Raises AddressForbidden("invalid") for a host that is numeric but not a valid address (`1.2.3.4.5`,
    `999.1.1.1`): resolvers disagree on those, so they are refused rather than guessed.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        if "%" in text:  # a zone id names a local interface
            raise AddressForbidden("internal", host, "IPv6 zone id")
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            raise AddressForbidden("invalid", host) from None
    if text.endswith("."):
        text = text[:-1]
    labels = text.split(".")
    if not _looks_numeric(labels[-1]):
        return None  # a name: the resolver decides
    if len(labels) > 4:
        raise AddressForbidden("invalid", host)
    parts = [_ipv4_part(label) for label in labels]
    if any(p is None for p in parts):
        raise AddressForbidden("invalid", host)
    *head, last = parts
    if any(p > 255 for p in head) or last >= 256 ** (5 - len(parts)):
        raise AddressForbidden("invalid", host)
    value = last
    for i, p in enumerate(head):
        value += p << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def internal_kind(address: IPAddress) -> str | None:
    """Why an address is not a public internet host (None when it is one)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "IPv4-mapped"
        if address.sixtofour is not None and internal_kind(address.sixtofour):
            return "6to4 of an internal address"
        if address.teredo is not None:
            return "Teredo"
        if address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            if internal_kind(embedded):
                return "NAT64 of an internal address"
        if int(address) >> 32 == 0:
            return "IPv4-compatible"
    for kind in ("loopback", "unspecified", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:
        return "not global"
    return None


def _local_name(host: str) -> bool:
    name = host.lower().rstrip(".")
    return name in _LOCAL_NAMES or name.endswith(_LOCAL_SUFFIXES) or "." not in name


class OutboundPolicy:
    """Where the server may connect on someone else's word; ``allow_insecure`` lifts every check."""

    def __init__(self, allow_insecure: bool = False, resolver: Resolver | None = None):
        self.allow_insecure = allow_insecure
        self._resolver = resolver or socket.getaddrinfo

    def check_url(self, url: str) -> None:
        """What can be judged without DNS: https, and a host that is neither internal nor a local name."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018  (a bad port raises here)
        except ValueError:
            raise AddressForbidden("invalid", url[:100]) from None
        if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
            raise AddressForbidden("invalid", parts.netloc or url[:100])
        if self.allow_insecure:
            return
        if parts.scheme != "https":
            raise AddressForbidden("insecure_scheme", host)
        self.check_host_literal(host)

    def check_host_literal(self, host: str) -> IPAddress | None:
        """Refuse an internal IP in any spelling or a local-only name; returns the literal IP if any."""
        if self.allow_insecure:
            return None
        address = ip_literal(host)
        if address is not None:
            kind = internal_kind(address)
            if kind:
                raise AddressForbidden("internal", host, kind)
            return address
        if _local_name(host):
            raise AddressForbidden("internal", host, "local name")
        return None

    def resolve(self, host: str, port: int) -> str | None:
        """The one checked address to connect to (None: the policy is lifted, connect as usual)."""
        if self.allow_insecure:
            return None
        literal = self.check_host_literal(host)
        if literal is not None:
            return str(literal)
        try:
            infos = self._resolver(host, port, 0, socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise AddressForbidden("unresolvable", host, str(exc)) from None
        addresses = []
        for info in infos:
            sockaddr = info[4]
            text = str(sockaddr[0]).split("%", 1)[0]
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                raise AddressForbidden("invalid", host, text) from None
            kind = internal_kind(address)
            if kind:
                # One internal answer is enough to refuse: a name that mixes them is a rebinding trick.
                raise AddressForbidden("internal", host, f"{address}: {kind}")
            addresses.append(address)
        if not addresses:
            raise AddressForbidden("unresolvable", host)
        return str(addresses[0])

    def session(self) -> requests.Session:
        """A requests session that connects only to checked addresses and never follows a redirect."""
        session = _NoRedirectSession()
        session.trust_env = False  # a proxy from the environment would resolve the name again itself
        adapter = PinnedAddressAdapter(self)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session


class _NoRedirectSession(requests.Session):
    """Redirects are the caller's decision (a portal rename), never requests' own."""

    def get_redirect_target(self, resp):
        return None


class PinnedAddressAdapter(HTTPAdapter):
    """Connects to the address the policy checked, keeping the name for TLS (SNI, certificate) and Host."""

    def __init__(self, policy: OutboundPolicy, **kwargs):
        self.policy = policy
        super().__init__(max_retries=0, **kwargs)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        scheme = parts.scheme.lower()
        if not self.policy.allow_insecure and scheme != "https":
            raise AddressForbidden("insecure_scheme", host)
        port = parts.port or (443 if scheme == "https" else 80)
        pinned = self.policy.resolve(host, port)
        if pinned is None:
            return super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        if scheme == "https":
            pool_kwargs["server_hostname"] = host
            pool_kwargs["assert_hostname"] = host if verify is not False else False
        request.headers["Host"] = parts.netloc.rsplit("@", 1)[-1]
        return self.poolmanager.connection_from_host(host=pinned, port=port, scheme=scheme,
                                                      pool_kwargs=pool_kwargs)
