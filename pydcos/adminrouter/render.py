"""nginx.conf for Admin Router, rendered from the settings and the cluster view. Pure: text in, text out.

`render(config, view, cluster_id)` returns the configuration and the small static files nginx
serves itself (`/metadata`, the version and build-info files, the login page). Everything
interpolated was checked before (`view.py`, `config.py`), so the text is always valid nginx syntax;
`nginx.py` still runs `nginx -t` on it before it is swapped in.

Routing, in nginx's order (exact `=` locations, then the agent regex, then the longest prefix):

    = /metadata, = /dcos-metadata/dcos-version.json, = /login      served here, no token needed
    = /pkgpanda/active.buildinfo.full.json, = /capabilities         served here, token needed
    /acs/api/v1/                                                      identity service (checks itself)
    /mesos/  -> leader.mesos:5050 (re-resolved through the dns every second)
    /marathon/, /service/marathon/ -> Marathon      /mesos_dns/ -> the dns HTTP API
    ~ ^/(slave|agent)/ID/ -> that agent (map rendered from the masters' state)
    /service/NAME/ -> the app or framework that declares NAME
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec

from pydcos.adminrouter.config import DCOS_VERSION, RouterConfig, split_hostport
from pydcos.adminrouter.view import ClusterView, ServiceRoute

AUTH_LOCATION = "/internal/auth"
HEALTH_PATH = "/adminrouter/health"
UNKNOWN_AGENT_PATH = "/internal/unknown-agent"
STATIC_FILES = ("metadata.json", "dcos-version.json", "buildinfo.json", "login.html", "index.html")


@dataclass(frozen=True)
class NginxLayout:
    """Where nginx's files live, all under `<work_dir>/nginx` but the logs."""

    root: Path
    log_prefix: Path

    @classmethod
    def of(cls, config: RouterConfig) -> NginxLayout:
        return cls(root=config.work_dir / "nginx", log_prefix=config.nginx_log_prefix)

    @property
    def conf(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def pid(self) -> Path:
        return self.root / "nginx.pid"

    @property
    def static(self) -> Path:
        return self.root / "static"

    @property
    def cache(self) -> Path:
        return self.root / "auth-cache"

    @property
    def temp(self) -> Path:
        return self.root / "tmp"

    @property
    def access_log(self) -> Path:
        return self.log_prefix.with_name(self.log_prefix.name + "-nginx-access.log")

    @property
    def error_log(self) -> Path:
        return self.log_prefix.with_name(self.log_prefix.name + "-nginx-error.log")


@dataclass(frozen=True)
class RenderedConfig:
    text: str
    static_files: dict[str, bytes]  # name (in NginxLayout.static) -> content


def render(config: RouterConfig, view: ClusterView, *, cluster_id: str) -> RenderedConfig:
    layout = NginxLayout.of(config)
    parts = [
        _main(config, layout),
        "http {",
        _indent(_http(config, layout, view)),
        _indent(_server(config, layout, view)),
        "}",
        "",
    ]
    return RenderedConfig(text="\n".join(parts), static_files=static_files(config, cluster_id))


def static_files(config: RouterConfig, cluster_id: str) -> dict[str, bytes]:
    version = {"version": DCOS_VERSION, "dcos-image-commit": "pydcos", "bootstrap-id": "pydcos"}
    metadata = {"PUBLIC_IPV4": config.public_ip or config.ip, "CLUSTER_ID": cluster_id}
    login = (
        "<!doctype html><html><head><title>pydcos login</title></head><body>"
        "<p>pydcos issues tokens through its login API. From the dcos CLI: "
        "<code>dcos auth login --username UID --password-env VAR</code>; or "
        "<code>POST /acs/api/v1/auth/login</code> with <code>{\"uid\", \"password\"}</code>.</p>"
        "</body></html>\n"
    )
    return {
        "metadata.json": msgspec.json.encode(metadata) + b"\n",
        "dcos-version.json": msgspec.json.encode(version) + b"\n",
        "buildinfo.json": msgspec.json.encode({"package_list": [], "pydcos": True}) + b"\n",
        "login.html": login.encode(),
        "index.html": b"<!doctype html><html><body><p>pydcos Admin Router</p></body></html>\n",
    }


def _indent(block: str) -> str:
    return "\n".join(("    " + line) if line else "" for line in block.split("\n"))


def _main(config: RouterConfig, layout: NginxLayout) -> str:
    user = f"user {config.nginx_user};\n" if config.nginx_user else ""
    return (
        "# Rendered by pydcos.adminrouter.render; rewritten on every change of the cluster.\n"
        f"{user}"
        f"worker_processes {config.worker_processes};\n"
        f"pid {layout.pid};\n"
        f"error_log {layout.error_log} warn;\n"
        f"worker_shutdown_timeout {config.worker_shutdown_timeout_s}s;\n"
        "events {\n"
        "    worker_connections 4096;\n"
        "}"
    )


def _http(config: RouterConfig, layout: NginxLayout, view: ClusterView) -> str:
    dns_host, dns_port = split_hostport(config.dns)
    temp = layout.temp
    lines = [
        "server_tokens off;",
        "default_type application/octet-stream;",
        "log_format router '$remote_addr $auth_uid [$time_local] \"$request_method $uri\" '",
        "                  '$status $body_bytes_sent $request_time \"$upstream_addr\" $upstream_response_time';",
        f"access_log {layout.access_log} router buffer=32k flush=1s;",
        f"client_body_temp_path {temp}/client_body;",
        f"proxy_temp_path {temp}/proxy;",
        f"fastcgi_temp_path {temp}/fastcgi;",
        f"uwsgi_temp_path {temp}/uwsgi;",
        f"scgi_temp_path {temp}/scgi;",
        # Limits: a header line over 8k or a header block over 32k is refused (400/494), a body
        # over max_body gets 413.
        "client_header_buffer_size 4k;",
        "large_client_header_buffers 4 8k;",
        f"client_max_body_size {config.max_body};",
        "keepalive_requests 10000;",
        # `leader.mesos` is looked up through pydcos's dns, and again at most a second later.
        f"resolver {dns_host}:{dns_port} valid=1s ipv6=off;",
        "resolver_timeout 2s;",
        f"proxy_cache_path {layout.cache} levels=1 keys_zone=auth_cache:4m max_size=64m inactive=60s "
        "use_temp_path=off;",
        "map $http_cookie $acs_cookie_token {",
        "    default \"\";",
        "    \"~(?:^|;)\\s*dcos-acs-auth-cookie=(?<token>[^;]+)\" $token;",
        "}",
        _agent_maps(config, view),
        _upstream("marathon", config.marathon),
        _upstream("mesos_dns", config.dns_http),
        _upstream("identity", (config.identity_address,)),
    ]
    lines += [_service_upstream(i, route) for i, route in enumerate(view.services) if route.static]
    return "\n".join(lines)


def _upstream(name: str, servers: tuple[str, ...]) -> str:
    # The first server is the one beside this router; the others stand in when it is down.
    body = [f"    server {s}{' backup' if i else ''} max_fails=0;" for i, s in enumerate(servers)]
    return "\n".join([f"upstream {name} {{", *body, "    keepalive 32;", "}"])


def _service_upstream(index: int, route: ServiceRoute) -> str:
    body = [f"    server {s} max_fails=0;" for s in route.servers]
    return "\n".join([f"upstream service_{index} {{  # /service/{route.name}/", *body, "    keepalive 16;", "}"])


def _agent_maps(config: RouterConfig, view: ClusterView) -> str:
    """`$agent_id` (from the agent location) -> its address; an unknown id goes to the identity
    service's 404 (after the token check, so no id is confirmed to a caller without a token)."""
    addresses = [f"    {a.id} {a.address};" for a in view.agents]
    prefixes = [f"    {a.id} \"\";" for a in view.agents]
    return "\n".join([
        "map $agent_id $agent_upstream {",
        f"    default {config.identity_address};",
        *addresses,
        "}",
        "map $agent_id $agent_uri_prefix {",
        f"    default {UNKNOWN_AGENT_PATH};",
        *prefixes,
        "}",
    ])


_AUTH = (
    f"auth_request {AUTH_LOCATION};\n"
    "auth_request_set $auth_uid $upstream_http_x_auth_uid;\n"
    "auth_request_set $auth_message $upstream_http_x_auth_message;"
)


def _server(config: RouterConfig, layout: NginxLayout, view: ClusterView) -> str:
    static = layout.static
    blocks = [
        f"listen {config.ip}:{config.port} backlog=4096;",
        "server_name _;",
        f"root {static}/empty;",
        "set $auth_uid \"-\";",
        "set $auth_message \"missing or invalid authentication token\";",
        # Proxying: HTTP/1.1 with keep-alive to the upstreams, nothing buffered (streams: the
        # scheduler API, /v2/events, task logs), headers (Location included) passed unchanged.
        "proxy_http_version 1.1;",
        "proxy_set_header Connection \"\";",
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_buffering off;",
        "proxy_request_buffering off;",
        "proxy_redirect off;",
        "proxy_connect_timeout 5s;",
        "proxy_read_timeout 1h;",
        "proxy_send_timeout 1h;",
        "error_page 401 = @unauthorized;",
        "error_page 404 = @not_found;",
        "",
        _block(f"location = {AUTH_LOCATION}", _auth_location(config)),
        _block("location @unauthorized", [
            # The identity service's `WWW-Authenticate: oauthjwt` is copied by auth_request.
            "default_type application/json;",
            "return 401 '{\"message\": \"$auth_message\"}\\n';",
        ]),
        _block("location @not_found", [
            "default_type application/json;",
            "return 404 '{\"message\": \"not found\"}\\n';",
        ]),
        _static("= /", static, "index.html", "text/html"),
        _static("= /metadata", static, "metadata.json", "application/json"),
        _static("= /dcos-metadata/dcos-version.json", static, "dcos-version.json", "application/json"),
        _static("= /login", static, "login.html", "text/html"),
        _static("= /pkgpanda/active.buildinfo.full.json", static, "buildinfo.json", "application/json", auth=True),
        # Cosmos and the rest do not exist yet: 404 once the token is checked.
        _block("location = /capabilities", [_AUTH, "log_not_found off;"]),
        _block("location /", ["log_not_found off;"]),
        _block(f"location = {HEALTH_PATH}", [f"proxy_pass http://identity{HEALTH_PATH};"]),
        _block("location /acs/api/v1/", ["proxy_pass http://identity/acs/api/v1/;"]),
        _block("location /mesos/", [
            _AUTH,
            f"set $mesos_leader {config.mesos_leader_host};",
            "rewrite ^/mesos/(.*)$ /$1 break;",
            f"proxy_pass http://$mesos_leader:{config.mesos_port};",
        ]),
        _block("location /marathon/", [_AUTH, "proxy_pass http://marathon/;"]),
        _block("location /service/marathon/", [_AUTH, "proxy_pass http://marathon/;"]),
        _block("location /mesos_dns/", [_AUTH, "proxy_pass http://mesos_dns/;"]),
        _block("location ~ ^/(?:slave|agent)/(?<agent_id>[^/]+)", [
            _AUTH,
            "rewrite ^/(?:slave|agent)/[^/]+/?(.*)$ $agent_uri_prefix/$1 break;",
            "proxy_pass http://$agent_upstream;",
        ]),
        _block("location /service/", [_AUTH, "log_not_found off;"]),
    ]
    blocks += [_service_location(i, route) for i, route in enumerate(view.services)]
    return _block("server", blocks)


def _static(match: str, static: Path, name: str, content_type: str, *, auth: bool = False) -> str:
    # try_files runs after the access phase, so a token check (auth_request) comes first.
    body = [_AUTH] if auth else []
    return _block(f"location {match}", [*body, f"root {static};", f"default_type {content_type};",
                                        f"try_files /{name} =404;"])


def _auth_location(config: RouterConfig) -> list[str]:
    """The token check: one subrequest to the identity service per token every few seconds; in
    between nginx answers it from its cache, keyed by the token (header or cookie)."""
    return [
        "internal;",
        f"proxy_pass http://identity{AUTH_LOCATION};",
        "proxy_pass_request_body off;",
        # proxy_set_header here replaces the server's list: keep-alive needs Connection "" again.
        "proxy_set_header Connection \"\";",
        "proxy_set_header Content-Length \"\";",
        "proxy_set_header Cookie \"\";",
        "proxy_set_header X-Auth-Cookie $acs_cookie_token;",
        "proxy_buffering on;",
        "proxy_cache auth_cache;",
        "proxy_cache_key \"$http_authorization|$acs_cookie_token\";",
        "proxy_cache_lock on;",
        # The identity service sends X-Accel-Expires: never beyond the token's own expiry.
        f"proxy_cache_valid 200 {config.auth_cache_s}s;",
        "proxy_cache_valid 401 1s;",
        "proxy_connect_timeout 2s;",
        "proxy_read_timeout 10s;",
    ]


def _service_location(index: int, route: ServiceRoute) -> str:
    prefix = f"/service/{route.name}/"
    if route.static:
        return _block(f"location {prefix}", [_AUTH, f"proxy_pass {route.scheme}://service_{index}{route.path};"])
    # A host name: looked up through the resolver per request, so no reload waits on DNS.
    regex_name = route.name.replace(".", "\\.")
    return _block(f"location {prefix}", [
        _AUTH,
        f"set $service_{index} {route.servers[0]};",
        f"rewrite ^/service/{regex_name}/(.*)$ {route.path}$1 break;",
        f"proxy_pass {route.scheme}://$service_{index};",
    ])


def _block(head: str, body: list[str]) -> str:
    inner = "\n".join(body)
    return f"{head} {{\n{_indent(inner)}\n}}"
