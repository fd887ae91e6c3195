"""The views the render tests (and the nginx -t integration test) use."""

from __future__ import annotations

from pathlib import Path

from pydcos.adminrouter.config import RouterConfig
from pydcos.adminrouter.view import AgentRoute, ClusterView, ServiceRoute

GOLDEN = Path(__file__).parent / "golden"

VIEWS: dict[str, ClusterView] = {
    "empty": ClusterView(),
    "cluster": ClusterView(
        agents=(
            AgentRoute("9b2f-S0", "10.0.2.1:5051"),
            AgentRoute("9b2f-S1", "10.0.2.2:5051"),
            AgentRoute("9b2f-S2", "10.0.3.1:5051"),
        ),
        services=(
            ServiceRoute("jenkins", "http", ("10.0.2.1:31004", "10.0.2.2:31007"), "/", "app"),
            ServiceRoute("spark", "http", ("10.0.2.2:4040",), "/ui/", "framework"),
            ServiceRoute("tls.ui", "https", ("ui.example.com:8443",), "/", "framework"),
        ),
    ),
}


def config(work_dir: Path = Path("/var/lib/pydcos/adminrouter"), **overrides: object) -> RouterConfig:
    settings: dict[str, object] = dict(
        ip="10.0.1.1", port=80, masters=("10.0.1.1:5050", "10.0.1.2:5050"),
        marathon=("10.0.1.1:8080", "10.0.1.2:8080"), dns="10.0.1.1:53", dns_http=("10.0.1.1:8123",),
        work_dir=work_dir, log_file=work_dir.parent / "logs" / "adminrouter.log", nginx_user="root",
    )  # fmt: skip
    settings.update(overrides)
    return RouterConfig(**settings)  # type: ignore[arg-type]
