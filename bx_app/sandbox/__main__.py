"""`python -m bx_app.sandbox`: run the Bitrix24 OAuth servers, the portals and the UIS sandbox in one process."""
from __future__ import annotations

import argparse
import inspect
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

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
    parser.add_argument("--ru-oauth-port", type=int, default=int(env("SANDBOX_RU_OAUTH_PORT", "0")),
                        help="a second, Russian authorization server (plays oauth.bitrix24.tech) on this port; "
                             "0: none, every portal belongs to the global one on --oauth-port")
    parser.add_argument("--ru-portal-ports", default=env("SANDBOX_RU_PORTAL_PORTS", ""),
                        help="comma-separated portal ports that belong to the Russian server "
                             "(default: every portal but the first)")
    parser.add_argument("--tls", action="store_true", default=env("SANDBOX_TLS", "") in ("1", "true", "yes"),
                        help="the OAuth servers and portals serve HTTPS with a certificate made at start")
    parser.add_argument("--tls-dir", default=env("SANDBOX_TLS_DIR", ""),
                        help="where the certificate goes (ca.pem is the one to trust); default: a temp dir")
    return parser.parse_args(argv)


def ru_portal_ports(args: argparse.Namespace, ports: list[int]) -> list[int]:
    if not args.ru_oauth_port:
        return []
    chosen = [int(p) for p in str(args.ru_portal_ports).split(",") if p.strip()]
    return chosen or ports[1:]


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
    from .portal import RU_REGION, create_oauth_app, create_portal_app
    from .portal import create_sandbox as create

    scheme = "https" if args.tls else "http"
    ru_ports = ru_portal_ports(args, ports)
    oauth_app, portal_apps, state = create(args.app_url, args.client_id, args.client_secret, args.oauth_port,
                                           ports, public_host=public_host, ru_oauth_port=args.ru_oauth_port or None,
                                           ru_portal_ports=ru_ports, scheme=scheme)
    ssl_context = None
    if args.tls:
        from .portal.tls import make_certificate

        tls_dir = Path(args.tls_dir) if args.tls_dir else Path(tempfile.mkdtemp(prefix="bx24-sandbox-tls-"))
        certificate = make_certificate(tls_dir, [public_host])
        ssl_context = certificate.server_context()
        print(f"sandbox tls: trust {certificate.ca_path}", flush=True)

    def serve(app, port: int, *, tls: bool = True):
        return make_server(args.host, port, app, threaded=True, ssl_context=ssl_context if tls else None)

    servers = [("sandbox oauth", serve(oauth_app, args.oauth_port), args.oauth_port, scheme)]
    if args.ru_oauth_port:
        servers.append(("sandbox oauth (ru)", serve(create_oauth_app(state, RU_REGION), args.ru_oauth_port),
                        args.ru_oauth_port, scheme))
    for port, portal_app in portal_apps.items():
        label = f"sandbox portal ({state.portals[port].region})" if args.ru_oauth_port else "sandbox portal"
        servers.append((label, serve(portal_app, port), port, scheme))
    if args.uis_port:
        uis_app = create_uis_server_app(args.app_url)
        if uis_app is not None:
            servers.append(("sandbox uis", serve(uis_app, args.uis_port, tls=False), args.uis_port, "http"))
        else:
            print("sandbox uis: not available (bx_app.sandbox.uis.create_uis_app missing)", flush=True)
    def start(label: str, server, port: int, server_scheme: str) -> None:
        threading.Thread(target=server.serve_forever, name=label, daemon=True).start()
        print(f"{label}: {server_scheme}://{public_host}:{port}/", flush=True)

    def launch_portal(port: int, region: str):
        """POST /sandbox/portals: one more portal, on `port` or (0) any free one, served from now on."""
        if port in state.portals or region not in state.servers:
            raise ValueError(f"no portal on port {port} in region {region!r}: taken or unknown")
        server = serve(lambda environ, start_response: [], port)  # the portal's app once its port is known
        actual = server.server_port
        try:
            with state.lock:
                portal = state.new_portal(actual, region)
        except ValueError:
            server.server_close()
            raise
        server.app = state.portal_apps[actual] = create_portal_app(state, actual)
        servers.append((f"sandbox portal ({region})", server, actual, scheme))
        start(f"sandbox portal ({region})", server, actual, scheme)
        return portal

    state.portal_launcher = launch_portal
    for label, server, port, server_scheme in list(servers):
        start(label, server, port, server_scheme)
    print(f"sandbox app url: {args.app_url} (client_id {args.client_id})", flush=True)

    stop = threading.Event()

    def request_stop(signum, frame):  # noqa: ARG001
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while not stop.wait(0.5):
        pass
    for _label, server, _port, _scheme in list(servers):
        server.shutdown()
    print("sandbox stopped", flush=True)
    return 0


__all__ = ["create_sandbox", "main"]

if __name__ == "__main__":
    sys.exit(main())
