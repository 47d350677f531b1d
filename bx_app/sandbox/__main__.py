"""`python -m bx_app.sandbox`: run the Bitrix24 OAuth server, the portals and the UIS sandbox in one process."""
from __future__ import annotations

import argparse
import inspect
import logging
import os
import signal
import sys
import threading

from werkzeug.serving import make_server

from .portal import create_sandbox


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m bx_app.sandbox", description=__doc__)
    parser.add_argument("--host", default=env("SANDBOX_HOST", "127.0.0.1"))
    parser.add_argument("--oauth-port", type=int, default=int(env("SANDBOX_OAUTH_PORT", "8090")))
    parser.add_argument("--portal-ports", default=env("SANDBOX_PORTAL_PORTS", "8081,8082"),
                        help="comma-separated; one portal per port")
    parser.add_argument("--uis-port", type=int, default=int(env("SANDBOX_UIS_PORT", "8092")),
                        help="0 disables the UIS sandbox")
    parser.add_argument("--app-url", default=env("SANDBOX_APP_URL", "http://localhost:8000"))
    parser.add_argument("--client-id", default=env("B24_CLIENT_ID", "app.sandbox.uis20"))
    parser.add_argument("--client-secret", default=env("B24_CLIENT_SECRET", "sandbox-secret"))
    return parser.parse_args(argv)


def create_uis_server_app(app_url: str):
    """The UIS sandbox app, when bx_app.sandbox.uis provides create_uis_app; else None."""
    try:
        from . import uis
    except ImportError:
        return None
    factory = getattr(uis, "create_uis_app", None)
    if factory is None:
        return None
    try:
        accepts_app_url = "app_url" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        accepts_app_url = False
    return factory(app_url=app_url) if accepts_app_url else factory()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    ports = [int(p) for p in str(args.portal_ports).split(",") if p.strip()]
    public_host = "127.0.0.1" if args.host in ("0.0.0.0", "", "::") else args.host
    from .portal import create_sandbox as create

    oauth_app, portal_apps, _state = create(args.app_url, args.client_id, args.client_secret, args.oauth_port,
                                            ports, public_host=public_host)
    servers = [("sandbox oauth", make_server(args.host, args.oauth_port, oauth_app, threaded=True), args.oauth_port)]
    for port, portal_app in portal_apps.items():
        servers.append(("sandbox portal", make_server(args.host, port, portal_app, threaded=True), port))
    if args.uis_port:
        uis_app = create_uis_server_app(args.app_url)
        if uis_app is not None:
            servers.append(("sandbox uis", make_server(args.host, args.uis_port, uis_app, threaded=True),
                            args.uis_port))
        else:
            print("sandbox uis: not available (bx_app.sandbox.uis.create_uis_app missing)", flush=True)
    threads = []
    for label, server, port in servers:
        thread = threading.Thread(target=server.serve_forever, name=label, daemon=True)
        thread.start()
        threads.append(thread)
        print(f"{label}: http://{public_host}:{port}/", flush=True)
    print(f"sandbox app url: {args.app_url} (client_id {args.client_id})", flush=True)

    stop = threading.Event()

    def request_stop(signum, frame):  # noqa: ARG001
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while not stop.wait(0.5):
        pass
    for _label, server, _port in servers:
        server.shutdown()
    print("sandbox stopped", flush=True)
    return 0


__all__ = ["create_sandbox", "main"]

if __name__ == "__main__":
    sys.exit(main())
