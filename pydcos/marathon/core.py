"""Marathon's brain: apps, instances, deployments, the launch queue and health, driven by events
from the API, from Mesos and from the clock. Pure: no sockets, no time or randomness of its own.

Every entry point changes the state and queues instructions (`CallMesos`, `Persist`, `Emit`);
the shell takes them with `drain()`, which first settles the state: each app touched since the
last drain is looked at again (app_control.decide: what to launch, what to kill) and running
deployments advance as far as they can.

    core = MarathonCore(CoreConfig(), clock, new_id)
    plan = commands.create_app(core, spec)         # API
    core.offers([...]); core.status_update(status)  # Mesos
    for instruction in core.drain(): ...            # shell
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import msgspec

from pydcos.core.clock import Clock
from pydcos.core.log import get_logger
from pydcos.marathon import events, records, unreachable
from pydcos.marathon import health as hl
from pydcos.marathon.app_control import decide
from pydcos.marathon.deployments import DeploymentRun, Deployments, RunDone, StepDone
from pydcos.marathon.errors import DeploymentLocked
from pydcos.marathon.events import Emit, PlanViews
from pydcos.marathon.group_versions import GroupHistory
from pydcos.marathon.groups import RootGroup
from pydcos.marathon.ids import task_id_for
from pydcos.marathon.instances import LOST_STATES, STAGED_STATES, Instance, InstanceTracker
from pydcos.marathon.launch_queue import LaunchQueue
from pydcos.marathon.model import AppDefinition, format_time, parse_time
from pydcos.marathon.offers import OfferHandling
from pydcos.marathon.planner import Action, DeploymentPlan, plan
from pydcos.marathon.readiness import ReadinessChecks
from pydcos.marathon.render import AppJsonCache, app_definition_json, health_check_json
from pydcos.mesos.v1 import messages as v1

log = get_logger("pydcos.marathon.core")


@dataclass(frozen=True)
class CoreConfig:
    service_port_range: tuple[int, int] = (10000, 20000)
    default_accepted_roles: tuple[str, ...] = ("*",)
    decline_refuse_seconds: float = 5.0  # an offer nothing waiting can use
    idle_refuse_seconds: float = 120.0  # an offer while nothing waits at all
    max_versions: int = 50
    reconciliation_interval: float = 300.0
    scale_check_interval: float = 30.0
    kill_retry_seconds: float = 10.0
    task_launch_timeout: float = 300.0  # a task not running this long after launch is killed


@dataclass(frozen=True)
class CallMesos:
    call: v1.Call  # framework_id is filled in by the shell


@dataclass(frozen=True)
class Persist:
    key: str
    value: bytes | None  # None deletes


Instruction = CallMesos | Persist | Emit


class TaskFailure(msgspec.Struct):
    app_id: str
    task_id: str
    state: str
    message: str
    host: str
    agent_id: str
    timestamp: float
    version: str


class MarathonCore:
    """All of Marathon's state. Changed only through its methods (and commands.py)."""

    def __init__(self, config: CoreConfig, clock: Clock, new_id: Callable[[], str]) -> None:
        self.config = config
        self.clock = clock
        self.new_id = new_id
        self.root = RootGroup()
        self.versions: dict[str, dict[str, AppDefinition]] = {}
        self.instances = InstanceTracker()
        self.queue = LaunchQueue()
        self.deployments = Deployments()
        self.health = hl.HealthSchedule()
        self.last_failures: dict[str, TaskFailure] = {}
        self.framework_id: str | None = None
        self.connected = False
        self.cache = AppJsonCache()
        self._plan_views = PlanViews(self._definition_json)  # running deployments, as events show them
        # Set by the shell: whether anyone listens for an event type (events are built lazily).
        self.listening: Callable[[str], bool] = lambda event_type: False
        self.offer_handling = OfferHandling(self)
        self.readiness = ReadinessChecks(self)
        self.group_history = GroupHistory(config.max_versions)
        self._out: list[Instruction] = []
        self._dirty: set[str] = set()
        self._revive = False
        self._last_version_ms = 0
        self._next_reconcile = 0.0
        self._next_scale_check = 0.0
        self._last_tick = 0.0

    # --- plumbing ---------------------------------------------------------------------------

    def drain(self) -> list[Instruction]:
        """Settle the state, then hand over every instruction queued since the last drain."""
        self._settle()
        out, self._out = self._out, []
        return out

    def call(self, call: v1.Call) -> None:
        self._out.append(CallMesos(call))

    def persist(self, key: str, value: bytes | None) -> None:
        self._out.append(Persist(key, value))

    def emit(self, event_type: str, build: Callable[[], events.Json]) -> None:
        if self.listening(event_type):
            self._out.append(Emit(event_type, self.clock.wall(), build))

    def emit_now(self, event_type: str, build: Callable[[], events.Json]) -> None:
        """Like `emit`, but the fields are taken now: the instance may change before publishing."""
        if self.listening(event_type):
            body = build()
            self._out.append(Emit(event_type, self.clock.wall(), lambda: dict(body)))

    def touch(self, app_ids: Iterable[str]) -> None:
        self._dirty.update(app_ids)

    def next_version(self) -> str:
        """A new version stamp, later than every one given before (two changes in one ms differ)."""
        ms = max(int(self.clock.wall() * 1000), self._last_version_ms + 1)
        self._last_version_ms = ms
        return format_time(ms / 1000)

    def app_for(self, instance: Instance) -> AppDefinition | None:
        """The definition an instance was launched with (the current one when that is gone)."""
        kept = self.versions.get(instance.app_id, {}).get(instance.version)
        return kept if kept is not None else self.root.apps.get(instance.app_id)

    def healthy(self, instance: Instance) -> bool:
        return hl.is_healthy(instance, self.app_for(instance))

    # --- the group tree and deployments -------------------------------------------------------

    def deploy(self, target: RootGroup, *, force: bool) -> DeploymentPlan:
        """Make `target` the tree and start the deployment that gets there (409 on a conflict)."""
        new_plan = plan(self.root, target, self.new_id(), target.version or self.next_version())
        group_id = events.changed_group(self.root, target, new_plan.affected_apps)
        conflicts = self.deployments.conflicts(new_plan.affected_apps)
        if conflicts and not force:
            refused = DeploymentLocked(conflicts)
            self.emit("group_change_failed", partial(events.group_change, group_id, new_plan.version, refused.message))
            raise refused
        for deployment_id in conflicts:
            self.cancel_run(deployment_id, "canceled by a forced deployment")
        original = self.root
        self.set_root(target)
        self._plan_views.start(new_plan, original, target)
        self.start_run(DeploymentRun(new_plan))
        self.emit("group_change_success", partial(events.group_change, group_id, new_plan.version))
        return new_plan

    def start_run(self, run: DeploymentRun) -> None:
        self.deployments.add(run)
        self.persist(records.deployment_key(run.id), records.encode(run))
        self.emit("deployment_info", partial(events.plan_event, self._plan_views.of(run.plan, self.root),
                                             run.current_actions()))
        self.touch(run.plan.affected_apps)
        log.event("deployment_started", deployment_id=run.id, apps=len(run.plan.affected_apps),
                  steps=len(run.plan.steps))

    def cancel_run(self, deployment_id: str, reason: str) -> DeploymentRun | None:
        run = self.deployments.remove(deployment_id)
        if run is None:
            return None
        view = self._plan_views.end(run.plan, self.root)
        self.persist(records.deployment_key(run.id), None)
        # The step under way does not finish (Marathon's DeploymentActor fails it when stopped).
        self.emit("deployment_step_failure", partial(events.plan_event, view, run.current_actions()))
        self.emit("deployment_failed", partial(events.deployment_result, view))
        self.touch(run.plan.affected_apps)
        log.event("deployment_canceled", deployment_id=run.id, reason=reason)
        return run

    def set_root(self, target: RootGroup) -> None:
        """Replace the tree, keeping the store and the version history in step."""
        old = self.root
        for app_id, app in target.apps.items():
            if old.apps.get(app_id) is not app:
                self._keep_app(app)
        for app_id in old.apps.keys() - target.apps.keys():
            self._drop_app(app_id)
        if old.groups != target.groups or old.version != target.version:
            record = records.GroupsRecord(target.version, list(target.groups.values()))
            self.persist(records.GROUPS_KEY, records.encode(record))
            for key, value in self.group_history.add(target):
                self.persist(key, value)
        self.root = target

    def _keep_app(self, app: AppDefinition) -> None:
        before = self.root.apps.get(app.id)
        self.persist(records.app_key(app.id), records.encode(app))
        if before is None or before.health_checks != app.health_checks:
            self._health_check_events("remove_health_check_event", before)
            self._health_check_events("add_health_check_event", app)
        kept = self.versions.setdefault(app.id, {})
        if app.version not in kept:
            kept[app.version] = app
            self.persist(records.version_key(app.id, app.version), records.encode(app))
            while len(kept) > self.config.max_versions:
                oldest = min(kept)
                del kept[oldest]
                self.persist(records.version_key(app.id, oldest), None)

    def _health_check_events(self, event_type: str, app: AppDefinition | None) -> None:
        if app is None:
            return
        for hc in app.health_checks:
            check = health_check_json(hc)
            self.emit(event_type, partial(dict, appId=app.id, version=app.version, healthCheck=check))

    def _drop_app(self, app_id: str) -> None:
        self._health_check_events("remove_health_check_event", self.root.apps.get(app_id))
        self.persist(records.app_key(app_id), None)
        for version in self.versions.pop(app_id, {}):
            self.persist(records.version_key(app_id, version), None)
        self.cache.forget(app_id)
        self.last_failures.pop(app_id, None)

    def _definition_json(self, app: AppDefinition) -> events.Json:
        return self.cache.get(app) if self.root.apps.get(app.id) is app else app_definition_json(app)

    # --- settling -------------------------------------------------------------------------

    def _settle(self) -> None:
        if not self.connected:
            # Until Mesos has told us what runs (reconciliation follows every subscription),
            # deciding kills and launches on remembered states would act on stale facts.
            return
        for _ in range(20):
            if not self._dirty:
                break
            dirty, self._dirty = self._dirty, set()
            for app_id in sorted(dirty):
                self._reconcile_app(app_id)
            self._progress()
        if self._revive:
            self._revive = False
            self.offer_handling.suppressed = False
            self.call(v1.Call(type="REVIVE"))

    def _reconcile_app(self, app_id: str) -> None:
        app = self.root.apps.get(app_id)
        action, held = self.deployments.action_for(app_id)
        instances = self.instances.of_app(app_id)
        healthy = self.readiness.counts_for_step(app) if action else self.healthy
        decision = decide(app, instances, action.action if action else None, healthy=healthy, held=held)
        for task_id in decision.kill:
            self.kill(task_id)
        if app is None:
            self.queue.remove(app_id)
        elif self.queue.set_count(app_id, decision.launch, wall=self.clock.wall(),
                                  config_version=app.config_version):
            self._revive = True

    def _action_done(self, action: Action) -> bool:
        app = self.root.apps.get(action.app_id)
        return decide(app, self.instances.of_app(action.app_id), action.action,
                      healthy=self.readiness.counts_for_step(app)).done

    def _progress(self) -> None:
        for step in self.deployments.progress(self._action_done):
            if isinstance(step, StepDone):
                self._step_done(step.run, step.step)
            elif isinstance(step, RunDone):
                self._run_done(step.run)

    def _step_done(self, run: DeploymentRun, step: tuple[Action, ...]) -> None:
        view = self._plan_views.of(run.plan, self.root)
        self.emit("deployment_step_success", partial(events.plan_event, view, step))
        self.touch(a.app_id for s in run.plan.steps for a in s)
        if not run.finished:
            self.persist(records.deployment_key(run.id), records.encode(run))
            self.emit("deployment_info", partial(events.plan_event, view, run.current_actions()))

    def _run_done(self, run: DeploymentRun) -> None:
        self.persist(records.deployment_key(run.id), None)
        self.emit("deployment_success", partial(events.deployment_result, self._plan_views.end(run.plan, self.root)))
        for app_id, target in run.plan.target.items():
            if target is None and app_id not in self.root.apps:
                self.emit("app_terminated_event", partial(dict, appId=app_id))
        log.event("deployment_finished", deployment_id=run.id)

    # --- instances --------------------------------------------------------------------------

    def kill(self, task_id: str) -> None:
        instance = self.instances.get(task_id)
        if instance is None or instance.terminal:
            return
        instance.killing = True
        instance.kill_sent_at = self.clock.monotonic()
        self.call(v1.Call(type="KILL", kill=v1.Kill(task_id=v1.Id(task_id), agent_id=v1.Id(instance.agent_id))))
        if instance.state == unreachable.UNREACHABLE:
            # Its agent is away, so the end may never be confirmed: forget it now, as Marathon
            # does. Should it come back, Mesos reports an unknown task, which is killed then.
            self.expunge(task_id, "killed while unreachable")
            return
        self.persist(records.instance_key(task_id), records.encode(instance))
        self.touch([instance.app_id])

    def expunge(self, task_id: str, reason: str) -> Instance | None:
        """Forget an instance without waiting for Mesos to report its end (`wipe=true`, or
        unreachable past its app's expungeAfterSeconds). Its app sees one fewer and replaces it."""
        instance = self.instances.remove(task_id)
        if instance is None:
            return None
        self.health.forget(task_id)
        self.persist(records.instance_key(task_id), None)
        self.touch([instance.app_id])
        log.event("instance_expunged", task_id=task_id, reason=reason)
        return instance

    def launch(self, app: AppDefinition, agent_id: str, host: str, attributes: dict[str, str],
               host_ports: list[int]) -> Instance:
        task_id = task_id_for(app.id, self.new_id())
        instance = Instance(
            task_id=task_id, app_id=app.id, version=app.version, config_version=app.config_version,
            agent_id=agent_id, host=host, ports=host_ports, service_ports=app.service_ports,
            attributes=attributes, staged_at=self.clock.wall(), ip_addresses=_ips_of(host),
        )
        hl.ensure_results(instance, app)
        self.instances.add(instance)
        self.persist(records.instance_key(task_id), records.encode(instance))
        self.touch([app.id])
        return instance

    def status_update(self, status: v1.TaskStatus) -> None:
        task_id = status.task_id.value
        instance = self.instances.get(task_id)
        if instance is None:
            if status.state not in v1.TERMINAL_STATES and status.state not in LOST_STATES:
                log.event("unknown_task_killed", task_id=task_id, state=status.state)
                agent = status.agent_id
                self.call(v1.Call(type="KILL", kill=v1.Kill(task_id=status.task_id, agent_id=agent)))
            return
        previous = instance.state
        instance.state = status.state
        wall = self.clock.wall()
        unreachable.note_state(instance, wall)
        if status.state == "TASK_RUNNING" and instance.started_at is None:
            instance.started_at = status.timestamp or wall
        if status.healthy is not None:
            self._mesos_health(instance, status.healthy, hl.reported_cause(status))
        if previous != status.state:
            message = status.message or ""
            self.emit_now("status_update_event", lambda: events.status_update(instance, message))
            self.emit_now("instance_changed_event", lambda: events.instance_changed(instance))
        if instance.terminal:
            self.instances.remove(task_id)
            self.health.forget(task_id)
            self.persist(records.instance_key(task_id), None)
            if not instance.killing:
                self._failed(instance, status)
        elif previous != status.state:
            self.persist(records.instance_key(task_id), records.encode(instance))
        self.touch([instance.app_id])
        if instance.unreachable_since is not None:
            unreachable.apply(self, [instance])  # a strategy with 0 s acts at once

    def _failed(self, instance: Instance, status: v1.TaskStatus) -> None:
        app = self.root.apps.get(instance.app_id)
        self.last_failures[instance.app_id] = TaskFailure(
            app_id=instance.app_id, task_id=instance.task_id, state=status.state, message=status.message or "",
            host=instance.host, agent_id=instance.agent_id, timestamp=status.timestamp or self.clock.wall(),
            version=instance.version)
        if app is not None and instance.config_version == app.config_version:
            delay = self.queue.entry(app.id).backoff.failed(
                app.backoff_seconds, app.backoff_factor, app.max_launch_delay_seconds, now=self.clock.monotonic())
            log.event("task_failed", task_id=instance.task_id, state=status.state, backoff_s=round(delay, 3))

    def reset_delay(self, app_id: str) -> bool:
        """`DELETE /v2/queue/{app}/delay`: launch again without waiting. False if nothing waits."""
        entry = self.queue.entries.get(app_id)
        if entry is None or app_id not in self.root.apps:
            return False
        entry.backoff.reset()
        self._revive = True
        return True

    def kill_and_forget(self, task_ids: Iterable[str]) -> list[Instance]:
        """Kill the named instances; they are not replaced while the app's goal says otherwise."""
        out = []
        for task_id in task_ids:
            instance = self.instances.get(task_id)
            if instance is not None:
                self.kill(task_id)
                out.append(instance)
        return out

    # --- health -----------------------------------------------------------------------------

    def due_probes(self) -> list[hl.Probe]:
        pairs = []
        for app in self.root.apps.values():
            if not any(hc.protocol in hl.PROBED for hc in app.health_checks):
                continue
            for instance in self.instances.of_app(app.id):
                kept = self.app_for(instance)
                if kept is not None:
                    pairs.append((instance, kept))
        return self.health.due(self.clock.monotonic(), pairs)

    def probe_result(self, probe: hl.Probe, ok: bool, cause: str) -> None:
        instance = self.instances.get(probe.task_id)
        if instance is None or not instance.running:
            return
        app = self.app_for(instance)
        if app is None or probe.index >= len(app.health_checks):
            return
        hl.ensure_results(instance, app)
        outcome = hl.record(instance.health[probe.index], app.health_checks[probe.index], ok=ok, cause=cause,
                            now=self.clock.wall(), started_at=instance.started_at)
        self._health_outcome(instance, app, probe.index, outcome)

    def _mesos_health(self, instance: Instance, healthy: bool, cause: str) -> None:
        instance.mesos_healthy = healthy
        app = self.app_for(instance)
        if app is None:
            return
        for index, outcome in hl.record_mesos(instance, app, healthy, self.clock.wall(), cause):
            self._health_outcome(instance, app, index, outcome)

    def _health_outcome(self, instance: Instance, app: AppDefinition, index: int, outcome: hl.Outcome) -> None:
        alive = instance.health[index].alive
        if outcome.changed:
            self.emit_now("health_status_changed_event", lambda: events.health_changed(instance, alive))
            self.touch([instance.app_id])
        if outcome.failed:
            check = health_check_json(app.health_checks[index])
            self.emit_now("failed_health_check_event", lambda: events.failed_health_check(instance, check))
        if outcome.kill and not instance.killing:
            log.event("unhealthy_task_killed", task_id=instance.task_id, check=index)
            self.emit_now("unhealthy_task_kill_event",
                          lambda: events.unhealthy_kill(instance, "max consecutive failures of a health check"))
            self.kill(instance.task_id)

    # --- Mesos ------------------------------------------------------------------------------

    def subscribed(self, framework_id: str) -> None:
        self.connected = True
        if framework_id != self.framework_id:
            self.framework_id = framework_id
            self.persist(records.FRAMEWORK_ID_KEY, framework_id.encode())
        self.offer_handling.suppressed = False
        self.reconcile()
        self.touch(self.root.apps.keys())
        self.touch(self.instances.app_ids())
        self._revive = True

    def disconnected(self) -> None:
        self.connected = False

    def reconcile(self) -> None:
        """Ask the master for the truth: explicitly about what we know, implicitly about the rest."""
        known = [v1.ReconcileTask(task_id=v1.Id(i.task_id), agent_id=v1.Id(i.agent_id)) for i in self.instances]
        if known:
            self.call(v1.Call(type="RECONCILE", reconcile=v1.Reconcile(tasks=known)))
        self.call(v1.Call(type="RECONCILE", reconcile=v1.Reconcile(tasks=[])))
        self._next_reconcile = self.clock.monotonic() + self.config.reconciliation_interval

    def offers(self, offers: list[v1.Offer]) -> None:
        self.offer_handling.handle(offers)

    def framework_message(self, agent_id: str, executor_id: str, data: str) -> None:
        self.emit("framework_message_event",
                  lambda: {"slaveId": agent_id, "executorId": executor_id, "message": data})

    def tick(self) -> None:
        """Periodic work: kill retries, backoff expiry, reconciliation and the scale check."""
        now = self.clock.monotonic()
        wall = self.clock.wall()
        away = []
        for instance in self.instances:
            if instance.unreachable_since is not None:
                away.append(instance)
            if instance.killing and instance.kill_sent_at is not None and \
                    now - instance.kill_sent_at >= self.config.kill_retry_seconds:
                self.kill(instance.task_id)
            elif not instance.killing and instance.state in STAGED_STATES and \
                    wall - instance.staged_at >= self.config.task_launch_timeout:
                log.event("launch_timed_out", task_id=instance.task_id)
                self.kill(instance.task_id)
        unreachable.apply(self, away)
        for entry in self.queue.pending():
            if self._last_tick < entry.backoff.until <= now:
                self._revive = True
        if self.connected and now >= self._next_reconcile:
            self.reconcile()
        if now >= self._next_scale_check:
            self._next_scale_check = now + self.config.scale_check_interval
            self.touch(self.root.apps.keys())
        self._last_tick = now

    # --- restart ----------------------------------------------------------------------------

    def restore(self, snapshot: records.Snapshot) -> None:
        """Take back what was persisted (before connecting to Mesos)."""
        self.framework_id = snapshot.framework_id
        apps = dict(snapshot.apps)
        groups = {g.id: g for g in snapshot.groups.groups} if snapshot.groups else dict(RootGroup().groups)
        version = snapshot.groups.version if snapshot.groups else ""
        root = RootGroup({}, groups, version)
        for app in apps.values():
            root = root.with_app(app, version)
        self.root = RootGroup(root.apps, {**root.groups, **groups}, version)
        # (a store from before tree versions were kept has none: the current tree is the first)
        for key, value in [*self.group_history.restore(snapshot.trees, snapshot.tree_apps),
                           *self.group_history.add(self.root)]:
            self.persist(key, value)
        self.versions = {k: dict(v) for k, v in snapshot.versions.items()}
        for app in apps.values():
            self.versions.setdefault(app.id, {})[app.version] = app
        for instance in snapshot.instances:
            self.instances.add(instance)
        for run in snapshot.runs:
            self.deployments.add(run)
        self.touch(self.root.apps.keys())
        self.touch(self.instances.app_ids())
        if self.versions:
            newest = max(v for kept in self.versions.values() for v in kept)
            ts = parse_time(newest)
            if ts is not None:
                self._last_version_ms = int(ts * 1000)


def _ips_of(host: str) -> list[str]:
    try:
        return [str(ipaddress.IPv4Address(host))]
    except ValueError:
        return []
