"""The outbound-address policy: a user-supplied address never makes the server talk to its own network.

I1 portal addresses, `client_endpoint` from app.info/token answers and a portal's redirects all go
through one policy: every spelling of an internal address is refused, names are resolved once and the
connection goes to the address that was checked, and B24_ALLOW_INSECURE_PORTALS lifts it in development.
"""
from __future__ import annotations

import socket
import threading

import pytest
import requests
import responses

from bx_app.bitrix.client import PortalClient, plausible_rename
from bx_app.bitrix.errors import ForbiddenAddress
from bx_app.bitrix.limiter import LocalRateLimiter
from bx_app.outbound import AddressForbidden, OutboundPolicy, ip_literal

# Every way we know to write an internal address in a URL's host.
INTERNAL_SPELLINGS = [
    "127.0.0.1", "127.1", "127.0.1", "0177.0.0.1", "0x7f.0.0.1", "0x7F.1", "2130706433", "0x7f000001",
    "017700000001", "127.0.0.1.", "0177.1", "127.000.000.001",
    "[::1]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]",
    "[0:0:0:0:0:ffff:127.0.0.1]", "[::ffff:10.0.0.1]", "[::ffff:8.8.8.8]",
    "10.0.0.1", "012.0.0.1", "0xa.0.0.1", "167772161", "172.16.0.1", "172.31.255.255", "192.168.1.10",
    "169.254.169.254", "0xa9fea9fe", "2852039166", "100.64.0.1", "0.0.0.0", "0", "0x0", "224.0.0.1",
    "239.255.255.250", "240.0.0.1", "255.255.255.255", "198.18.0.1",
    "[fe80::1]", "[fc00::1]", "[fd12:3456::1]", "[ff02::1]", "[::]", "[2002:7f00:1::1]", "[2002:a00:1::1]",
    "[64:ff9b::7f00:1]", "[2001:db8::1]", "[2001::1]",
    "localhost", "LOCALHOST", "localhost.", "portal.localhost", "printer.local", "db.internal", "intranet",
]

PUBLIC_SPELLINGS = ["93.184.216.34", "[2606:4700:4700::1111]", "8.8.8.8"]


_real_getaddrinfo = socket.getaddrinfo


def _fake_resolver(mapping: dict[str, list[str]], calls: list | None = None):
    def resolve(host, port, family=0, type_=0, *args):
        if host == "127.0.0.1" and host not in mapping:  # the test Redis (rate limits) stays reachable
            return _real_getaddrinfo(host, port, family, type_, *args)
        if calls is not None:
            calls.append(host)
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for address in mapping[host]:
            fam = socket.AF_INET6 if ":" in address else socket.AF_INET
            out.append((fam, socket.SOCK_STREAM, 6, "", (address, port)))
        return out

    return resolve


@pytest.mark.parametrize("host", INTERNAL_SPELLINGS)
def test_every_spelling_of_an_internal_address_is_refused(host):
    policy = OutboundPolicy(resolver=_fake_resolver({}))
    with pytest.raises(AddressForbidden) as refused:
        policy.check_url(f"https://{host}/rest/")
    assert refused.value.reason in ("internal", "invalid")
    with pytest.raises(AddressForbidden):
        policy.resolve(host.strip("[]"), 443)


@pytest.mark.parametrize(("spelling", "address"), [
    ("127.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"), ("10.1", "10.0.0.1"), ("192.168.257", "192.168.1.1"), ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1"), ("93.184.216.34", "93.184.216.34"),
])
def test_numeric_spellings_are_read_as_resolvers_read_them(spelling, address):
    assert str(ip_literal(spelling)) == address


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.1.1.1", "08.1.1.1", "0x1g.1.1.1", "1.2.3.0x100", "4294967296",
                                  "a.1", "[::ffff:1.2.3]", "[fe80::1%25eth0]"])
def test_ambiguous_numeric_hosts_are_refused_not_guessed(host):
    with pytest.raises(AddressForbidden):
        OutboundPolicy().check_url(f"https://{host}/")


@pytest.mark.parametrize("host", PUBLIC_SPELLINGS)
def test_public_addresses_pass(host):
    policy = OutboundPolicy()
    policy.check_url(f"https://{host}/rest/")
    assert policy.resolve(host.strip("[]"), 443) == str(ip_literal(host))


def test_plain_http_is_refused():
    with pytest.raises(AddressForbidden) as refused:
        OutboundPolicy().check_url("http://company.bitrix24.ru/rest/")
    assert refused.value.reason == "insecure_scheme"


@pytest.mark.parametrize("answers", [["127.0.0.1"], ["10.1.2.3"], ["::1"], ["93.184.216.34", "192.168.0.5"],
                                     ["::ffff:169.254.169.254"], ["fe80::1%eth0"]])
def test_a_name_that_resolves_to_an_internal_address_is_refused(answers):
    policy = OutboundPolicy(resolver=_fake_resolver({"evil.example.com": answers}))
    policy.check_url("https://evil.example.com/")  # the name alone says nothing
    with pytest.raises(AddressForbidden) as refused:
        policy.resolve("evil.example.com", 443)
    assert refused.value.reason == "internal"


def test_an_unknown_name_is_refused_as_unresolvable():
    with pytest.raises(AddressForbidden) as refused:
        OutboundPolicy(resolver=_fake_resolver({})).resolve("nowhere.example.com", 443)
    assert refused.value.reason == "unresolvable"


def test_insecure_mode_lifts_the_policy_for_development():
    policy = OutboundPolicy(allow_insecure=True, resolver=_fake_resolver({}))
    policy.check_url("http://127.0.0.1:8081/rest/")
    assert policy.resolve("127.0.0.1", 8081) is None  # connect as usual


# --- the connection goes only to the checked address ----------------------------------------------
@pytest.fixture
def listener():
    """A TCP listener on 127.0.0.1 that records every connection it gets."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    received: list = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _addr = server.accept()
            except (TimeoutError, OSError):
                continue
            received.append(conn.recv(1024))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join(2)
    server.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "0177.0.0.1", "0x7f.0.0.1", "2130706433",
                                  "[::ffff:127.0.0.1]", "localhost", "rebind.example.com"])
@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_listener_on_loopback_receives_nothing(listener, host, scheme):
    port, received = listener
    session = OutboundPolicy(resolver=_fake_resolver({"rebind.example.com": ["127.0.0.1"]})).session()
    with pytest.raises(AddressForbidden):
        session.get(f"{scheme}://{host}:{port}/rest/app.info?auth=secret-token", timeout=2)
    with pytest.raises(AddressForbidden):
        session.head(f"{scheme}://{host}:{port}/", timeout=2)
    assert received == []


def test_the_name_is_resolved_once_and_the_checked_address_is_the_one_connected(listener, monkeypatch):
    """DNS rebinding: a public answer for the check, loopback for a second lookup that never happens."""
    port, received = listener
    calls: list = []
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    def rebinding(host, port_, *args):
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port_)) for a in next(answers)]

    session = OutboundPolicy(resolver=rebinding).session()
    # The test network guard refuses non-loopback connects: its message names the address connected to.
    with pytest.raises(Exception, match=r"93\.184\.216\.34"):
        session.get(f"https://rebind.example.com:{port}/", timeout=2)
    assert calls == ["rebind.example.com"] and received == []


def test_the_pinned_connection_keeps_the_name_for_tls_and_host():
    policy = OutboundPolicy(resolver=_fake_resolver({"company.bitrix24.ru": ["93.184.216.34"]}))
    adapter = policy.session().get_adapter("https://company.bitrix24.ru/")
    request = requests.Request("POST", "https://company.bitrix24.ru/rest/profile", json={}).prepare()
    pool = adapter.get_connection_with_tls_context(request, verify=True)
    assert pool.host == "93.184.216.34" and pool.port == 443
    assert pool.conn_kw.get("server_hostname") == "company.bitrix24.ru"
    assert pool.assert_hostname == "company.bitrix24.ru"
    assert request.headers["Host"] == "company.bitrix24.ru"


def test_the_guarded_session_never_follows_a_redirect_by_itself():
    with responses.RequestsMock() as rsps:
        rsps.get("https://company.bitrix24.ru/", status=302, headers={"Location": "https://127.0.0.1/"})
        response = OutboundPolicy().session().get("https://company.bitrix24.ru/")
        assert response.status_code == 302 and len(rsps.calls) == 1


# --- redirects in the REST client: followed only to the same portal renamed ----------------------
ENDPOINT = "https://company.bitrix24.ru/rest/"


class Tokens:
    def access_token(self):
        return "secret-access-token"

    def refresh(self, stale):
        return "secret-access-token"


def _client(**options):
    return PortalClient(ENDPOINT, Tokens(), limiter=LocalRateLimiter(1000, 1000), sleep=lambda s: None, **options)


@pytest.mark.parametrize("location", [
    "https://127.1/rest/profile", "https://0x7f.0.0.1/rest/profile", "https://[::ffff:127.0.0.1]/rest/profile",
    "https://169.254.169.254/rest/profile", "https://localhost/rest/profile", "https://collector.evil.example/rest/profile",
    "https://company.bitrix24.ru.evil.example/rest/profile", "http://renamed.bitrix24.ru/rest/profile",
])
@responses.activate
def test_a_redirect_elsewhere_is_refused_and_the_token_is_not_sent_there(location):
    responses.post(ENDPOINT + "profile", status=302, headers={"Location": location})
    moved = []
    client = _client(on_endpoint_change=moved.append)
    with pytest.raises(Exception) as refused:
        client.call("profile")
    assert "REDIRECT" in str(refused.value)
    assert [c.request.url for c in responses.calls] == [ENDPOINT + "profile"]
    assert client.client_endpoint == ENDPOINT and moved == []


@responses.activate
def test_a_renamed_cloud_portal_is_followed():
    responses.post(ENDPOINT + "profile", status=302, headers={"Location": "https://new-name.bitrix24.ru/rest/profile"})
    responses.post("https://new-name.bitrix24.ru/rest/profile", json={"result": {"ID": "1"}})
    client = _client()
    assert client.call("profile").result == {"ID": "1"}
    assert client.client_endpoint == "https://new-name.bitrix24.ru/rest/"


def test_a_portal_whose_address_is_internal_is_never_called(listener):
    port, received = listener
    client = PortalClient(f"https://127.0.0.1:{port}/rest/", Tokens(), limiter=LocalRateLimiter(1000, 1000),
                          sleep=lambda s: None)
    with pytest.raises(ForbiddenAddress):
        client.call("profile")
    assert received == []


@pytest.mark.parametrize(("old", "new", "plausible"), [
    ("company.bitrix24.ru", "renamed.bitrix24.ru", True),
    ("company.bitrix24.ru", "renamed.bitrix24.com", True),
    ("company.bitrix24.com.br", "other.bitrix24.com.br", True),
    ("crm.example.com", "b24.example.com", True),
    ("crm.example.com", "crm.evil.example", False),
    ("company.bitrix24.ru", "attacker.example.com", False),
    ("company.bitrix24.ru", "93.184.216.34", False),
    ("example.com", "evil.com", False),
    ("127.0.0.1", "127.0.0.1", True),
])
def test_what_counts_as_a_portal_rename(old, new, plausible):
    assert plausible_rename(old, new) is plausible


# --- the same policy guards install, client_endpoint and I1 ---------------------------------------
@pytest.mark.parametrize("endpoint", [
    "https://127.1/rest/", "https://0177.0.0.1/rest/", "https://0x7f.0.0.1/rest/", "https://2130706433/rest/",
    "https://10.0.0.1/rest/", "https://169.254.169.254/rest/", "https://localhost/rest/", "http://x.bitrix24.ru/rest/",
])
def test_a_client_endpoint_from_a_token_answer_must_pass_the_policy(app, endpoint):
    from bx_app.installation import InstallRejected, check_endpoint

    with app.test_request_context(), pytest.raises(InstallRejected) as refused:
        check_endpoint(endpoint, allow_insecure=False)
    assert refused.value.status == 400


@pytest.mark.parametrize("address", ["127.1", "0177.0.0.1", "0x7f.0.0.1", "2130706433", "https://[::ffff:127.0.0.1]",
                                     "10.1", "https://169.254.169.254", "portal.localhost", "printer.local"])
def test_I1_internal_portal_addresses_are_refused_before_any_request(client, address, monkeypatch):
    from tests.unit.test_uis_side import account, signed_in

    asked: list = []
    real = socket.getaddrinfo

    def recording(host, *args, **kwargs):
        if host != "127.0.0.1":  # Redis (rate limits) is ours; the portal's name must never be resolved
            asked.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    signed_in(client, account())
    with responses.RequestsMock() as rsps:
        response = client.post("/uis/connect", data={"name": "Основной", "portal": address})
        assert len(rsps.calls) == 0
    assert response.status_code == 400 and asked == []


def test_I1_a_name_resolving_to_loopback_is_refused_with_a_clear_error(client, monkeypatch, listener):
    from tests.unit.test_uis_side import account, signed_in

    port, received = listener
    monkeypatch.setattr(socket, "getaddrinfo", _fake_resolver({"portal.attacker.example": ["127.0.0.1"]}))
    signed_in(client, account())
    response = client.post("/uis/connect", data={"name": "Основной", "portal": f"portal.attacker.example:{port}"})
    assert response.status_code == 400
    assert "локальную или частную сеть" in response.get_data(as_text=True)
    assert received == []


def test_I1_the_refusal_reads_in_english_too(client, monkeypatch):
    from tests.unit.test_uis_side import account, signed_in

    monkeypatch.setattr(socket, "getaddrinfo", _fake_resolver({"portal.attacker.example": ["10.0.0.7"]}))
    signed_in(client, account())
    client.get("/uis/lang/en")
    response = client.post("/uis/connect", data={"name": "Main", "portal": "portal.attacker.example"})
    assert response.status_code == 400
    assert "local or private network" in response.get_data(as_text=True)
