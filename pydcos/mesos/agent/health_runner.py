"""Running command tasks' health checks: the IO half of health_checks.py.

One asyncio task per checked task, owned by `HealthChecks`: started when the task is running (or
re-attached after an agent restart), cancelled when it is killed, when it ends and when the agent
stops. Its results go through `HealthState` (pure); a change of health becomes a TASK_RUNNING
update through the agent's normal path (`produce`: recorded, checkpointed, retried until
acknowledged), and the last failure allowed kills the task through the task runner.

- COMMAND: `sh -c VALUE` (or VALUE with `arguments`) in the task's sandbox, with the task's
  environment and user, in a process group of its own (inside the task's cgroups when it has
  them, so it is charged to the task and dies with it). Its output is appended to the sandbox's
  `stderr`, where Mesos's command executor puts it. On timeout the whole group is SIGKILLed.
  The process is started with Popen (well under a millisecond) and its exit is watched through a
  pidfd on the loop, as the containerizer does with tasks: nothing waits in a thread.
- HTTP: one GET (redirects followed, certificates not verified, as Mesos's `curl -k -L`).
- TCP: a connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import msgspec

from pydcos.core.clock import Clock
from pydcos.core.log import get_logger
from pydcos.mesos.agent import checkpoint as ck
from pydcos.mesos.agent.cgroups import CgroupIsolator
from pydcos.mesos.agent.config import AgentConfig
from pydcos.mesos.agent.containerizer import lookup_user, reap_dead_members
from pydcos.mesos.agent.environment import TaskContext, task_environment
from pydcos.mesos.agent.errors import InvalidTask, LaunchFailed
from pydcos.mesos.agent.executor_runner import ExecutorHost
from pydcos.mesos.agent.health_checks import (
    CheckResult,
    HealthCheckSpec,
    HealthState,
    ReportHealth,
    check_environment,
    check_host,
    http_status_ok,
    http_url,
    last_reported_health,
    parse_health_check,
)
from pydcos.mesos.agent.task_launch import LaunchSpec, command_argv, effective_user, task_user
from pydcos.mesos.agent.task_status import make_status, signal_name
from pydcos.mesos.v1.messages import TERMINAL_STATES, CommandInfo

log = get_logger("pydcos.agent.health")

TaskKey = tuple[str, str]  # (framework_id, task_id)
REASON = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
# A zero interval would start check processes back to back and eat the node's CPU.
MIN_INTERVAL_S = 0.05
# Killed members of a check's process group are reaped at this interval, for at most this long.
REAP_INTERVAL_S = 0.05
REAP_DEADLINE_S = 30.0
# At agent shutdown, how long to wait for killed check processes to be reaped.
CLOSE_WAIT_S = 2.0


@dataclass
class _Checker:
    task: asyncio.Task[None] | None = None
    killed_task: bool = False  # the checks killed the task: its terminal update says unhealthy


@dataclass(frozen=True, slots=True)
class _Target:
    """What one task's checks run as and against."""

    task_id: str
    container_id: str
    env: dict[str, str]
    sandbox: str
    user: str | None
    host: str  # HTTP/TCP checks connect here


@dataclass(eq=False)  # hashed by identity: kept in a set
class _CheckProcess:
    """A running COMMAND check: its exit resolves `exited` (the return code) and reaps it."""

    popen: subprocess.Popen[bytes]
    exited: asyncio.Future[int | None]
    pidfd: int | None = None
    poll_timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class HealthChecks:
    """The health checks of the agent's command tasks. Changed only through its methods, all
    called from the event loop."""

    def __init__(self, *, config: AgentConfig, clock: Clock, agent: ExecutorHost, isolator: CgroupIsolator | None,
                 kill: Callable[[str, str], None]) -> None:
        self._config = config
        self._clock = clock
        self._agent = agent
        self._isolator = isolator
        self._kill = kill
        self._checkers: dict[TaskKey, _Checker] = {}
        self._running: set[asyncio.Task[None]] = set()  # every check task not yet finished (also cancelled ones)
        self._procs: set[_CheckProcess] = set()
        self._all_reaped = asyncio.Event()  # set when the last check process is reaped
        self._groups_to_reap: dict[int, float] = {}  # pgid -> give up at (loop time)
        self._reap_timer: asyncio.TimerHandle | None = None
        self._session: aiohttp.ClientSession | None = None
        self._devnull = -1

    def __len__(self) -> int:
        """Tasks whose checks are running (or finishing their cancellation)."""
        return len(self._running)

    # --- hooks of the task runner -------------------------------------------------------

    def task_started(self, fw_id: str, task_id: str, container_id: str, spec: LaunchSpec) -> None:
        """A command task is running: start its checks, if it has any."""
        entry = self._agent.state.find_task(fw_id, task_id)
        if entry is None or entry.info.health_check is None:
            return
        self._start((fw_id, task_id), container_id, entry.info.health_check, spec.env, spec.sandbox, spec.user,
                    reported=None)

    def task_reattached(self, record: ck.ContainerRecord) -> None:
        """A checkpointed task left running by the previous run is watched again: so are its checks,
        from a fresh schedule, knowing what was last reported (its statuses were replayed)."""
        if record.kill_requested or len(record.tasks) != 1 or record.tasks[0].health_check is None:
            return  # (a kill under way is finished, unchecked)
        task = record.tasks[0]
        fw_id, task_id = record.framework_id, record.executor_id
        ctx = TaskContext(agent_id=self._agent.agent_id or "", framework_id=fw_id, executor_id=task_id,
                          sandbox=record.sandbox, agent_ip=self._config.ip, agent_port=self._agent.port,
                          hostname=self._config.advertised_hostname, path=self._config.task_path)
        user = effective_user(task_user(record.framework, task), self._agent.agent_user,
                              switch_user=self._config.switch_user, is_root=os.geteuid() == 0)
        entry = self._agent.state.find_task(fw_id, task_id)
        reported = last_reported_health(entry.statuses) if entry is not None else None
        assert task.health_check is not None
        self._start((fw_id, task_id), record.container_id, task.health_check, task_environment(task, ctx),
                    record.sandbox, user, reported=reported)

    def stop(self, fw_id: str, task_id: str) -> None:
        """A kill was asked for: check no more (Mesos's executor stops reporting health then)."""
        checker = self._checkers.get((fw_id, task_id))
        if checker is not None and checker.task is not None:
            checker.task.cancel()

    def task_ended(self, fw_id: str, task_id: str) -> bool | None:
        """The task's process ended: stop its checks. False when they killed it (its terminal
        update then carries `healthy: false`, as Mesos's), else None."""
        checker = self._checkers.pop((fw_id, task_id), None)
        if checker is None:
            return None
        if checker.task is not None:
            checker.task.cancel()
        return False if checker.killed_task else None

    async def close(self) -> None:
        """Stop every check and wait (briefly) for their processes; then close the HTTP client."""
        self._checkers.clear()
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._procs:  # killed as their checks were cancelled: reaped as soon as they are gone
            self._all_reaped.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_WAIT_S):
                    await self._all_reaped.wait()
        for proc in list(self._procs):  # not reaped in time: stop watching
            self._forget(proc)
        self._reap_groups()
        if self._reap_timer is not None:
            self._reap_timer.cancel()
            self._reap_timer = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._devnull >= 0:
            os.close(self._devnull)
            self._devnull = -1

    # --- one task's checks --------------------------------------------------------------

    def _start(self, key: TaskKey, container_id: str, raw: dict[str, object], env: dict[str, str], sandbox: str,
               user: str | None, *, reported: bool | None) -> None:
        if key in self._checkers:
            return
        try:
            spec = parse_health_check(raw)
        except InvalidTask as exc:  # refused at launch; only a record from an older agent gets here
            log.warning("health_check_unusable", framework_id=key[0], task_id=key[1], reason=exc.message)
            return
        protocol = spec.http.protocol if spec.http else spec.tcp.protocol if spec.tcp else "IPv4"
        target = _Target(key[1], container_id, env, sandbox, user, check_host(self._config.ip, protocol))
        state = HealthState.for_spec(spec, self._clock.monotonic(), reported=reported)
        checker = _Checker()
        self._checkers[key] = checker
        checker.task = asyncio.create_task(self._run(key, spec, target, state, checker), name=f"health-{key[1]}")
        self._running.add(checker.task)
        checker.task.add_done_callback(self._running.discard)
        log.event("health_check_started", framework_id=key[0], task_id=key[1], type=spec.kind,
                  delay_s=spec.delay_seconds, interval_s=spec.interval_seconds, reported=reported)

    async def _run(self, key: TaskKey, spec: HealthCheckSpec, target: _Target, state: HealthState,
                   checker: _Checker) -> None:
        fw_id, task_id = key
        try:
            await asyncio.sleep(spec.delay_seconds)
            while True:
                ok, message = await self._check_once(spec, target)
                result = CheckResult(ok, self._clock.monotonic(), message)
                if not ok:
                    log.debug("health_check_failed", task_id=task_id, message=message,
                              in_grace=state.in_grace(result.at), failures=state.failures)
                for instruction in state.handle(result):
                    if isinstance(instruction, ReportHealth):
                        self._report(fw_id, target, instruction.healthy, instruction.message)
                    else:
                        checker.killed_task = True
                        log.event("unhealthy_task_killed", framework_id=fw_id, task_id=task_id,
                                  failures=state.failures, message=instruction.message)
                        self._kill(fw_id, task_id)
                        return
                await asyncio.sleep(max(spec.interval_seconds, MIN_INTERVAL_S))
        except Exception:  # our bug: this task's checks stop, the agent and the task go on
            log.exception("health_check_crashed", framework_id=fw_id, task_id=task_id)

    def _report(self, fw_id: str, target: _Target, healthy: bool, message: str) -> None:
        entry = self._agent.state.find_task(fw_id, target.task_id)
        if entry is None or entry.state in TERMINAL_STATES:
            return
        status = make_status(
            task_id=target.task_id, state=entry.state, agent_id=self._agent.agent_id or "",
            executor_id=target.task_id, uuid=self._agent.new_status_uuid(), timestamp=self._clock.wall(),
            source="SOURCE_EXECUTOR", message=message or None, reason=REASON, container_id=target.container_id,
            ip=self._config.ip,
        )
        log.event("task_health_changed", framework_id=fw_id, task_id=target.task_id, healthy=healthy,
                  message=message)
        self._agent.produce(fw_id, msgspec.structs.replace(status, healthy=healthy))

    async def _check_once(self, spec: HealthCheckSpec, target: _Target) -> tuple[bool, str]:
        """(passed, why not). Never raises for a failing check; the timeout counts as a failure."""
        kind = spec.kind
        try:
            async with asyncio.timeout(spec.timeout_seconds):
                if kind == "COMMAND":
                    assert spec.command is not None
                    return await self._command(spec.command, target)
                if kind == "HTTP":
                    assert spec.http is not None
                    return await self._http(spec, target)
                assert spec.tcp is not None
                return await self._tcp(spec.tcp.port, target.host)
        except TimeoutError:
            return False, f"{kind} health check failed: no answer within {spec.timeout_seconds:g}s; aborted"
        except (OSError, aiohttp.ClientError, ValueError) as exc:
            return False, f"{kind} health check failed: {exc.__class__.__name__}: {exc}"

    # --- COMMAND --------------------------------------------------------------------------

    async def _command(self, command: CommandInfo, target: _Target) -> tuple[bool, str]:
        try:
            proc = self._spawn(command, target)
        except LaunchFailed as exc:
            return False, f"COMMAND health check failed: {exc.message}"
        try:
            returncode = await proc.exited
        finally:
            if proc in self._procs:  # timed out or cancelled: the group goes; its exit is still reaped
                _kill_group(proc.popen.pid)
        if returncode == 0:
            return True, ""
        if returncode is None:
            how = "an unknown status"
        elif returncode < 0:
            how = f"signal {signal_name(-returncode)}"
        else:
            how = f"status {returncode}"
        return False, f"COMMAND health check failed: command returned {how}"

    def _spawn(self, command: CommandInfo, target: _Target) -> _CheckProcess:
        executable, argv = command_argv(command)
        owner = lookup_user(target.user) if target.user else None
        env = check_environment(target.env, command)
        if self._devnull < 0:
            self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            out_fd = os.open(os.path.join(target.sandbox, "stderr"), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                             0o644)
        except OSError:
            out_fd = -1
        isolator = self._isolator
        try:
            with isolator.spawning(target.container_id) if isolator is not None else contextlib.nullcontext():
                popen = subprocess.Popen(
                    argv, executable=executable, cwd=target.sandbox, env=env, stdin=self._devnull,
                    stdout=out_fd if out_fd >= 0 else subprocess.DEVNULL,
                    stderr=out_fd if out_fd >= 0 else subprocess.DEVNULL,
                    close_fds=True, process_group=0,
                    user=owner.uid if owner else None, group=owner.gid if owner else None,
                    extra_groups=list(owner.groups) if owner else None,
                )
        except OSError as exc:
            raise LaunchFailed(f"cannot start the command: {exc.strerror or exc}: '{exc.filename or executable}'") \
                from None
        except (ValueError, subprocess.SubprocessError) as exc:
            raise LaunchFailed(f"cannot start the command: {exc}") from None
        finally:
            if out_fd >= 0:
                os.close(out_fd)
        if isolator is not None:
            try:
                isolator.attach(target.container_id, popen.pid)
            except OSError as exc:  # it still runs, in its own process group
                log.warning("cgroup_attach_failed", container_id=target.container_id, pid=popen.pid,
                            error=exc.strerror or str(exc))
        return self._watch(popen)

    def _watch(self, popen: subprocess.Popen[bytes]) -> _CheckProcess:
        loop = asyncio.get_running_loop()
        proc = _CheckProcess(popen, loop.create_future())
        self._procs.add(proc)
        try:
            proc.pidfd = os.pidfd_open(popen.pid)
        except (OSError, AttributeError):
            proc.pidfd = None
        if proc.pidfd is not None:
            loop.add_reader(proc.pidfd, self._exited, proc)
        else:
            proc.poll_timer = loop.call_later(REAP_INTERVAL_S, self._poll, proc)
        return proc

    def _poll(self, proc: _CheckProcess) -> None:
        if proc.popen.poll() is None:
            proc.poll_timer = asyncio.get_running_loop().call_later(REAP_INTERVAL_S, self._poll, proc)
        else:
            self._exited(proc)

    def _exited(self, proc: _CheckProcess) -> None:
        # The leader is a zombie until reaped, so its group id is still ours: end what it left.
        pgid = proc.popen.pid
        _kill_group(pgid)
        returncode = proc.popen.poll()
        self._forget(proc)
        if not proc.exited.done():
            proc.exited.set_result(returncode)
        self._groups_to_reap[pgid] = asyncio.get_running_loop().time() + REAP_DEADLINE_S
        self._reap_groups()

    def _forget(self, proc: _CheckProcess) -> None:
        self._procs.discard(proc)
        if not self._procs:
            self._all_reaped.set()
        if proc.pidfd is not None:
            asyncio.get_running_loop().remove_reader(proc.pidfd)
            os.close(proc.pidfd)
            proc.pidfd = None
        if proc.poll_timer is not None:
            proc.poll_timer.cancel()
            proc.poll_timer = None

    def _reap_groups(self) -> None:
        """Reap the killed members of ended checks' groups (the agent may be their subreaper)."""
        if self._reap_timer is not None:
            self._reap_timer.cancel()
            self._reap_timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for pgid, give_up_at in list(self._groups_to_reap.items()):
            reap_dead_members(pgid)
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                del self._groups_to_reap[pgid]
                continue
            if now >= give_up_at:
                del self._groups_to_reap[pgid]
        if self._groups_to_reap:
            self._reap_timer = loop.call_later(REAP_INTERVAL_S, self._reap_groups)

    # --- HTTP and TCP ---------------------------------------------------------------------

    async def _http(self, spec: HealthCheckSpec, target: _Target) -> tuple[bool, str]:
        assert spec.http is not None
        if self._session is None:
            # One connection per check, as curl: a kept-alive socket would not prove the port answers.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        url = http_url(spec.http, target.host)
        async with self._session.get(url, ssl=False, allow_redirects=True) as resp:
            status = resp.status
        if http_status_ok(spec.http, status):
            return True, ""
        return False, f"HTTP health check failed: unexpected HTTP response code {status} from {url}"

    async def _tcp(self, port: int, host: str) -> tuple[bool, str]:
        _, writer = await asyncio.open_connection(host, port)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True, ""


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
