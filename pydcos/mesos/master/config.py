"""Master settings, declared once as a frozen dataclass: flags, tests and docs read the same fields."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MasterConfig:
    ip: str = "127.0.0.1"
    port: int = 5050
    hostname: str | None = None
    work_dir: str | None = None
    log_file: str | None = None
    cluster_name: str = "pydcos"
    # Allocation runs on this interval and also right after any event that frees or adds resources.
    allocation_interval: float = 1.0
    # Offers not answered within this time are rescinded and their resources offered again.
    offer_timeout: float | None = 60.0
    # HEARTBEAT events on scheduler streams. mesoshttp delivers an event only when the next record
    # arrives, so a short interval bounds its latency (COMPAT §4.3).
    heartbeat_interval: float = 10.0
    # An agent whose connection is gone (closed, or WebSocket pongs missing) for this long is
    # unreachable: its tasks are reported TASK_LOST / TASK_UNREACHABLE to their frameworks.
    agent_ping_interval: float = 5.0
    agent_unreachable_timeout: float = 15.0
    # After a restart, agents known from the registry get this long to re-register before they are
    # declared unreachable (Mesos's `agent_reregister_timeout`, 10 minutes by default).
    agent_reregister_timeout: float = 600.0
    # Where the registry lives: "sqlite" (`<work_dir>/registry.db`) or "memory" (lost on restart).
    # None: sqlite when a work_dir is set, memory otherwise.
    registry: str | None = None
    # Role weights for DRF, e.g. {"web": 2.0}.
    weights: dict[str, float] = field(default_factory=dict)
    # Bounded histories kept for the state endpoints.
    max_completed_tasks_per_framework: int = 1000
    max_completed_frameworks: int = 50
    max_unreachable_agents: int = 1000
    max_task_statuses: int = 20

    @property
    def advertised_hostname(self) -> str:
        return self.hostname or self.ip

    @property
    def registry_backend(self) -> str:
        return self.registry or ("sqlite" if self.work_dir else "memory")
