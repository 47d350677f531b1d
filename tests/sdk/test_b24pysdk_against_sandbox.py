"""The official Bitrix24 SDK (b24pysdk, written by Bitrix24, not here) drives the sandbox portal over HTTPS.

Where the SDK and the sandbox disagree, the sandbox is the one to fix (unless the reference says otherwise).
"""
from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from b24pysdk import BitrixApp, BitrixToken
from b24pysdk.api.requesters.bitrix_oauth_requester import BitrixOAuthRequester
from b24pysdk.credentials import OAuthEventData, OAuthPlacementData
from b24pysdk.errors import BitrixAPIExpiredToken, BitrixAPIQueryLimitExceeded
from b24pysdk.errors.oauth import BitrixOAuthInvalidGrant

from tests.sdk.conftest import CLIENT_ID, CLIENT_SECRET

pytestmark = pytest.mark.timeout(120)


def _sdk_oauth_at(monkeypatch, base_url: str) -> None:
    """The SDK has one hard-coded authorization server (https://oauth.bitrix24.tech); point its own token and
    app.info requests at the sandbox's stand-in for it instead. Nothing else of the SDK is touched."""
    monkeypatch.setattr(BitrixOAuthRequester, "_OAUTH_TOKEN_URL", f"{base_url}/oauth/token/")
    monkeypatch.setattr(BitrixOAuthRequester, "_APP_INFO_URL", f"{base_url}/rest/app.info/")


def _token(sandbox, index: int = 0, user_id: int = 1) -> BitrixToken:
    tokens = sandbox.control({"reset": True, "install": True, "issue_tokens": {"user_id": user_id}}, index)["tokens"]
    return BitrixToken(domain=sandbox.portal_domain(index), auth_token=tokens["access_token"],
                       refresh_token=tokens["refresh_token"],
                       expires=datetime.fromtimestamp(tokens["expires"], UTC),
                       expires_in=tokens["expires_in"],
                       bitrix_app=BitrixApp(client_id=CLIENT_ID, client_secret=CLIENT_SECRET))


def test_the_portal_is_https_only_for_a_client_that_trusts_the_sandbox(tls_sandbox):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{tls_sandbox.portal_url()}/sandbox/state.json", timeout=5, verify=True)
    assert tls_sandbox.state()["client_endpoint"] == f"{tls_sandbox.portal_url()}/rest/"


def test_a_plain_call_through_the_sdk_client(trusted):
    token = _token(trusted)
    client = token.get_client()
    lead_id = client.crm.lead.add(fields={"TITLE": "SDK", "PHONE": [{"VALUE": "+79161234567", "VALUE_TYPE": "WORK"}]}).result
    assert isinstance(lead_id, int)
    lead = client.crm.lead.get(bitrix_id=lead_id).result
    assert lead["TITLE"] == "SDK" and lead["PHONE"][0]["VALUE"] == "+79161234567"
    profile = token.call_method("profile")
    assert profile["result"]["ID"] == "1" and profile["result"]["ADMIN"] is True
    assert set(profile["time"]) >= {"start", "finish", "duration", "date_start", "date_finish"}


def test_a_batch_with_references(trusted):
    token = _token(trusted)
    contact = token.call_method("crm.contact.add", {"fields": {"NAME": "Иван", "PHONE": [{"VALUE": "+79035550101"}]}})
    response = token.call_batch({
        "dup": ("crm.duplicate.findbycomm", {"type": "PHONE", "values": ["+79035550101"]}),
        "leads": ("crm.lead.list", {"filter": {"@ID": "$result[dup][LEAD]"}, "select": ["ID"]}),
        "add": ("crm.lead.add", {"fields": {"TITLE": "Повтор $result[dup][CONTACT][0]", "CONTACT_ID": "$result[dup][CONTACT][0]"}}),
        "get": ("crm.lead.get", {"id": "$result[add]"}),
    }, halt=False)
    result = response["result"]
    assert result["result_error"] == []
    assert result["result"]["dup"] == {"CONTACT": [contact["result"]]}
    assert result["result"]["get"]["TITLE"] == f"Повтор {contact['result']}"
    assert result["result"]["get"]["CONTACT_ID"] == str(contact["result"])
    assert result["result_total"] == {"leads": 0}
    halted = token.call_batch({"missing": ("crm.lead.get", {"id": 999999}), "ok": ("app.info", {})}, halt=True)
    assert halted["result"]["result"] == [] and list(halted["result"]["result_error"]) == ["missing"]


def test_list_paging_through_the_sdk(trusted):
    token = _token(trusted)
    trusted.control({"bucket": {"enabled": False}})
    added = token.call_batches({f"l{i}": ("crm.lead.add", {"fields": {"TITLE": f"L{i}"}}) for i in range(120)})
    ids = sorted(added["result"]["result"].values())
    assert len(ids) == 120
    first = token.call_method("crm.lead.list", {"select": ["ID"], "order": {"ID": "ASC"}})
    assert (len(first["result"]), first["next"], first["total"]) == (50, 50, 120)
    everything = token.call_list("crm.lead.list", {"select": ["ID"], "order": {"ID": "ASC"}})
    assert sorted(int(r["ID"]) for r in everything["result"]) == ids
    fast = token.call_list_fast("crm.lead.list", {"select": ["ID"]})
    assert sorted(int(r["ID"]) for r in fast["result"]) == ids


@pytest.mark.parametrize("index, region", [(0, "global"), (1, "ru")])
def test_an_expired_token_is_refreshed_through_the_sdk(trusted, monkeypatch, index, region):
    _sdk_oauth_at(monkeypatch, trusted.oauth_url(region))
    token = _token(trusted, index)
    old_access, old_refresh = token.auth_token, token.refresh_token
    trusted.control({"expire_tokens": True}, index)  # the portal says expired; the SDK still thinks it is fresh
    before = trusted.oauth_stats(region)["token_requests"].get("refresh_token", 0)
    profile = token.call_method("profile")
    assert profile["result"]["ID"] == "1"
    assert token.auth_token != old_access and token.refresh_token != old_refresh
    assert trusted.oauth_stats(region)["token_requests"]["refresh_token"] == before + 1
    app_info = token.get_app_info()
    assert app_info.result.install.member_id == trusted.state(index)["member_id"]
    assert app_info.result.client_id == CLIENT_ID


def test_a_refresh_token_at_the_other_regions_server_is_invalid_grant(trusted, monkeypatch):
    _sdk_oauth_at(monkeypatch, trusted.oauth_url("global"))
    token = _token(trusted, 1)  # a Russian portal's token, shown to the global server
    trusted.control({"expire_tokens": True}, 1)
    with pytest.raises(BitrixOAuthInvalidGrant):
        token.call_method("profile")


def test_expired_without_a_refresh_token_surfaces_as_expired(trusted):
    token = _token(trusted)
    token.refresh_token = None  # a one-off token: nothing to refresh with
    trusted.control({"expire_tokens": True})
    with pytest.raises(BitrixAPIExpiredToken):
        token.call_method("profile")


def test_query_limit_exceeded(trusted):
    token = _token(trusted)
    trusted.control({"bucket": {"capacity": 3, "rate": 0.0, "level": 3}})
    started = time.monotonic()
    with pytest.raises(BitrixAPIQueryLimitExceeded) as raised:
        token.call_method("profile", max_retries=2, initial_retry_delay=0.2)
    assert raised.value.status_code == 503
    assert time.monotonic() - started >= 0.2  # the SDK waited and retried its one 503 retry
    assert trusted.state()["counters"]["query_limit_exceeded"] == 2
    # the bucket drains: the SDK's retry after a 503 gets through
    trusted.control({"bucket": {"capacity": 3, "rate": 5.0, "level": 3}})
    assert token.call_method("profile", max_retries=3, initial_retry_delay=0.5)["result"]["ID"] == "1"


@pytest.mark.parametrize("index, region", [(0, "global"), (1, "ru")])
def test_the_install_post_and_event_parse_as_the_sdk_expects(trusted, monkeypatch, index, region):
    trusted.control({"reset": True}, index)
    launch = requests.get(f"{trusted.portal_url(index)}/sandbox/portal/launch.json?user=1", timeout=10).json()
    placement = OAuthPlacementData.from_dict({**dict(parse_qsl(urlsplit(launch["action"]).query)), **launch["fields"]})
    assert placement.domain == trusted.portal_domain(index) and placement.protocol.value == 1
    assert launch["fields"]["SERVER_ENDPOINT"] == f"{trusted.oauth_url(region)}/rest/"
    _sdk_oauth_at(monkeypatch, trusted.oauth_url(region))
    app = BitrixApp(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    app_info = app.get_app_info(placement.oauth_token.access_token).result
    assert placement.validate_against_app_info(app_info)
    finished = requests.post(f"{trusted.portal_url(index)}/sandbox/portal/install-finish",
                             json={"app_sid": launch["app_sid"]}, timeout=10).json()
    assert finished == {"ok": True}
    delivery = next(d for d in trusted.state(index)["event_deliveries"] if d["event"] == "ONAPPINSTALL")
    event = OAuthEventData.from_dict(delivery["form"])
    assert event.auth.member_id == app_info.install.member_id
    assert event.auth.server_endpoint == f"{trusted.oauth_url(region)}/rest/"
    assert event.auth.application_token and not event.is_system
