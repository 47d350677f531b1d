"""A portal refreshes its tokens at its own region's authorization server, when that server is trusted."""
from __future__ import annotations

import pytest

from bx_app.portal_auth import oauth_server_from_config
from tests.conftest import TEST_CONFIG


@pytest.mark.parametrize("server_endpoint,token_url", [
    ("https://oauth.bitrix24.tech/rest/", "https://oauth.bitrix24.tech/oauth/token/"),
    ("https://oauth.bitrix.info/rest/", "https://oauth.bitrix.info/oauth/token/"),
    ("https://evil.example.com/rest/", TEST_CONFIG["B24_OAUTH_URL"]),  # never a host a portal names
    (None, TEST_CONFIG["B24_OAUTH_URL"]),
])
def test_refresh_goes_to_the_portals_trusted_region(server_endpoint, token_url):
    assert oauth_server_from_config(TEST_CONFIG, server_endpoint).token_url == token_url
