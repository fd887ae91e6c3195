"""What one COMMAND health check costs the agent: `sh -c true` run the way health_runner.py runs it
(Popen in its own process group, exit watched through a pidfd on the loop, group reaped), one after
another, against asyncio's own `create_subprocess_exec` doing the same in the same run.

    .venv/bin/python benchmarks/health_check_command.py [--checks 300] [--rounds 5]

Prints checks per second of both (best of the rounds) and their ratio (> 1: ours is faster).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydcos.core.clock import SystemClock  # noqa: E402
from pydcos.mesos.agent.config import AgentConfig  # noqa: E402
from pydcos.mesos.agent.health_checks import parse_health_check  # noqa: E402
from pydcos.mesos.agent.health_runner import HealthChecks, _Target  # noqa: E402


async def ours(checks: int, sandbox: str) -> float:
    runner = HealthChecks(config=AgentConfig(), clock=SystemClock(), agent=None,  # type: ignore[arg-type]
                          isolator=None, kill=lambda fw, task: None)
    spec = parse_health_check({"type": "COMMAND", "command": {"value": "true"}})
    target = _Target("t", "c", {"PATH": "/usr/bin:/bin"}, sandbox, None, "127.0.0.1")
    start = time.perf_counter()
    for _ in range(checks):
        ok, why = await runner._check_once(spec, target)
        assert ok, why
    elapsed = time.perf_counter() - start
    await runner.close()
    return checks / elapsed


async def baseline(checks: int, sandbox: str) -> float:
    start = time.perf_counter()
    for _ in range(checks):
        proc = await asyncio.create_subprocess_exec("/bin/sh", "-c", "true", cwd=sandbox, env={"PATH": "/usr/bin:/bin"},
                                                    stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
        assert await proc.wait() == 0
    return checks / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as sandbox:
        best_ours = best_base = 0.0
        for _ in range(args.rounds):
            best_ours = max(best_ours, await ours(args.checks, sandbox))
            best_base = max(best_base, await baseline(args.checks, sandbox))
    print(f"health_check_command checks={args.checks} ours_per_s={best_ours:.0f} "
          f"asyncio_subprocess_per_s={best_base:.0f} ratio={best_ours / best_base:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
