"""Route `requests` calls for some hosts into Flask apps in this process (the sandbox, without sockets)."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import responses


def mount(rsps: responses.RequestsMock, apps: dict[str, object]) -> None:
    """apps: {"http://127.0.0.1:8081": flask_app, ...}; every method and path of those origins is served."""
    for origin, app in apps.items():
        client = app.test_client()

        def forward(request, client=client):
            parts = urlsplit(request.url)
            body = request.body
            if isinstance(body, str):
                body = body.encode()
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("content-length", "host")}
            reply = client.open(parts.path, method=request.method, query_string=parts.query, data=body or b"",
                                headers=headers, base_url=f"{parts.scheme}://{parts.netloc}")
            out_headers = {k: v for k, v in reply.headers.items() if k.lower() not in ("content-length",)}
            return reply.status_code, out_headers, reply.get_data()

        pattern = re.compile(re.escape(origin) + r"(/.*)?$")
        for method in (responses.GET, responses.POST, responses.PUT, responses.PATCH, responses.DELETE,
                       responses.HEAD):
            rsps.add_callback(method, pattern, callback=forward)
