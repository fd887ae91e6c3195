"""One allocation round of the pure DRF allocator, against a naive round that re-sorts per agent.

The cluster (fixed seed): 10,000 agents, a tenth of them public (everything reserved for
`slave_public`) and a fifth with part of their resources reserved for a role; half run tasks of
random frameworks already. 200 frameworks in six weighted roles, some with two roles, a tenth
suppressed, a fifth holding filters on a few hundred agents each.

Ours: `Allocator.allocate` on a fresh allocator (built untimed), best of several rounds. The
baseline (Mesos 1.0's way, in the same Python): allocations are kept up to date, but on every
agent every role's and every framework's share is computed again and all of them sorted. It runs
on the whole cluster unless `--baseline-agents` says fewer; then it runs on the first ones and is
scaled per agent to the full size, and the line says so.

    .venv/bin/python benchmarks/allocator.py [--agents N] [--frameworks N] [--rounds N]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable, Sized
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

from pydcos.mesos.master.allocator import Allocator, dominant_share, vec_of  # noqa: E402
from pydcos.mesos.master.allocator.sorter import Vec, vec_add  # noqa: E402
from pydcos.mesos.resources import Resources, RoleResources, contains_roles  # noqa: E402

ROLES = {"*": 1.0, "web": 2.0, "batch": 0.5, "analytics": 1.0, "ml": 3.0, "slave_public": 1.0}
PORTS = "[1025-2180,2182-3887,3889-5049,5052-8079,8082-8180,8182-32000]"


@dataclass
class Cluster:
    agents: dict[str, RoleResources] = field(default_factory=dict)
    used: dict[str, dict[str, RoleResources]] = field(default_factory=dict)
    frameworks: dict[str, tuple[list[str], bool]] = field(default_factory=dict)  # roles, suppressed
    filters: list[tuple[str, str, RoleResources]] = field(default_factory=list)


def synthetic_cluster(agents: int, frameworks: int, seed: int) -> Cluster:
    rng = random.Random(seed)
    c = Cluster()
    names = list(ROLES)
    for i in range(frameworks):
        roles = [rng.choice(names[:5]) if rng.random() < 0.6 else "*"]
        if rng.random() < 0.05:
            roles = ["slave_public"]
        if rng.random() < 0.1:
            roles.append(rng.choice([r for r in names if r not in roles]))
        c.frameworks[f"fw-{i:04d}"] = (roles, rng.random() < 0.1)
    fids = list(c.frameworks)
    for i in range(agents):
        cpus, mem = rng.choice([(8, 30_000), (16, 62_000), (32, 122_000)])
        full = f"cpus:{cpus};mem:{mem};disk:{rng.choice([100_000, 400_000])};ports:{PORTS}"
        agent_id = f"agent-{i:05d}"
        if rng.random() < 0.1:
            total = {"slave_public": Resources.parse(full)}
        elif rng.random() < 0.2:
            role = rng.choice(["web", "batch", "analytics", "ml"])
            total = {
                "*": Resources.parse(f"cpus:{cpus - 2};mem:{mem - 8000};disk:50000;ports:{PORTS}"),
                role: Resources.parse("cpus:2;mem:8000;disk:10000"),
            }
        else:
            total = {"*": Resources.parse(full)}
        c.agents[agent_id] = total
        if "*" in total and rng.random() < 0.5:
            used: dict[str, RoleResources] = {}
            for _ in range(rng.randint(1, 3)):
                task = Resources.parse(f"cpus:{rng.choice([0.5, 1, 2])};mem:{rng.choice([512, 2048, 4096])}")
                fid = rng.choice(fids)
                used[fid] = {"*": used[fid]["*"] + task if fid in used else task}
            c.used[agent_id] = used
    agent_ids = list(c.agents)
    for fid in rng.sample(fids, frameworks // 5):
        for agent_id in rng.sample(agent_ids, min(len(agent_ids), 300)):
            c.filters.append((agent_id, fid, c.agents[agent_id]))
    return c


def build(c: Cluster, agents: list[str]) -> Allocator:
    alloc = Allocator(weights=ROLES)
    for fid, (roles, suppressed) in c.frameworks.items():
        alloc.add_framework(fid, roles, suppressed_roles=roles if suppressed else ())
    for agent_id in agents:
        alloc.add_agent(agent_id, c.agents[agent_id], used=c.used.get(agent_id))
    chosen = set(agents)
    for agent_id, fid, res in c.filters:
        if agent_id in chosen:
            alloc.add_filter(agent_id, fid, res, 1e9, 0.0)
    return alloc


# --- the naive baseline ---------------------------------------------------------------------


@dataclass
class Naive:
    """The same semantics, sorting as Mesos 1.0 did: allocations are kept up to date, but every
    agent computes every role's and every framework's share again and sorts them all."""

    available: dict[str, RoleResources]
    alloc: dict[tuple[str, str], Vec]             # (role, framework) -> allocation
    role_alloc: dict[str, Vec]
    roles: dict[str, list[str]]                   # role -> offerable frameworks
    filters: dict[tuple[str, str], list[RoleResources]]
    total: Vec

    def share(self, role: str, fid: str) -> float:
        return dominant_share(self.alloc.get((role, fid), (0, 0, 0, 0)), self.total)

    def role_share(self, role: str) -> float:
        return dominant_share(self.role_alloc.get(role, (0, 0, 0, 0)), self.total, ROLES.get(role, 1.0))

    def round(self, agent_ids: list[str]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for agent_id in agent_ids:
            avail = self.available[agent_id]
            order = sorted((r for r, fws in self.roles.items() if fws), key=lambda r: (self.role_share(r), r))
            for role in order:
                offer = {k: v for k, v in avail.items() if k in ("*", role)}
                v = (0, 0, 0, 0)
                for res in offer.values():
                    v = vec_add(v, vec_of(res))
                if not offer or (v[0] < 10 and v[1] < 32_000):
                    continue
                for fid in sorted(self.roles[role], key=lambda f, r=role: (self.share(r, f), f)):  # type: ignore[misc]
                    if any(contains_roles(f, offer) for f in self.filters.get((fid, agent_id), ())):
                        continue
                    for k in offer:
                        del avail[k]
                    self.alloc[(role, fid)] = vec_add(self.alloc.get((role, fid), (0, 0, 0, 0)), v)
                    self.role_alloc[role] = vec_add(self.role_alloc.get(role, (0, 0, 0, 0)), v)
                    out.append((agent_id, fid))
                    break
        return out


def build_naive(c: Cluster, agents: list[str]) -> Naive:
    alloc = build(c, agents)  # the allocator's public views give the starting point
    naive = Naive({a: alloc.available(a) for a in agents}, {}, {}, {}, {}, vec_of(alloc.total()))
    for fid, (roles, suppressed) in c.frameworks.items():
        for role in roles:
            naive.roles.setdefault(role, [])
            if not suppressed:
                naive.roles[role].append(fid)
    for agent_id in agents:
        for fid, used in c.used.get(agent_id, {}).items():
            key = (c.frameworks[fid][0][0], fid)  # tasks' unreserved resources count for the first role
            naive.alloc[key] = vec_add(naive.alloc.get(key, (0, 0, 0, 0)), vec_of(used["*"]))
            naive.role_alloc[key[0]] = vec_add(naive.role_alloc.get(key[0], (0, 0, 0, 0)), vec_of(used["*"]))
    chosen = set(agents)
    for agent_id, fid, res in c.filters:
        if agent_id in chosen:
            naive.filters.setdefault((fid, agent_id), []).append(res)
    return naive


def best_of(rounds: int, setup: Callable[[], Callable[[], Sized]]) -> tuple[float, int]:
    """Best time of `rounds` runs, each on a fresh state from `setup` (untimed)."""
    best, count = float("inf"), 0
    for _ in range(rounds):
        run = setup()
        gc.collect()
        start = time.perf_counter()
        count = len(run())
        best = min(best, time.perf_counter() - start)
    return best, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--frameworks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline-agents", type=int, default=0, help="0: all of them")
    args = parser.parse_args()
    c = synthetic_cluster(args.agents, args.frameworks, seed=1)
    every = list(c.agents)
    some = every[: args.baseline_agents or len(every)]

    def ours() -> Callable[[], Sized]:
        alloc = build(c, every)
        return lambda: alloc.allocate(now=1.0)

    def naive() -> Callable[[], Sized]:
        n = build_naive(c, some)
        return lambda: n.round(some)

    # Same semantics, same answer: the baseline does the same work, only without increments.
    check = build(c, some).allocate(now=1.0, agent_ids=some)
    assert [(a.agent_id, a.framework_id) for a in check] == build_naive(c, some).round(some), "baseline disagrees"

    ours_s, offers = best_of(args.rounds, ours)
    base_s, _ = best_of(max(1, args.rounds // 2), naive)
    base_full_s = base_s * len(every) / len(some)
    scaled = f" (on {len(some)} agents, scaled x{len(every) / len(some):g})" if len(some) < len(every) else ""
    print(
        f"allocator agents={len(every)} frameworks={len(c.frameworks)} offers={offers} "
        f"round_ms={ours_s * 1e3:.1f} baseline_ms={base_full_s * 1e3:.1f}{scaled} ratio={base_full_s / ours_s:.1f}"
    )


if __name__ == "__main__":
    main()
