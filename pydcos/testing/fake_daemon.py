"""A stand-in daemon for testing the cluster supervisor without the real master and agent.

    python -m pydcos.testing.fake_daemon --ip 127.11.1.1 --port 5050 [--agent-id ID]
        [--exit-code N] [--never-healthy] [--ignore-sigterm] [--leave-child]

It answers `GET /health` (200) and `GET /state` (`{"id": ID}`), like the real ones. The flags make
it misbehave the ways the supervisor must cope with: exit at once, never become healthy, shrug off
SIGTERM, or leave a child process behind in a session of its own (as a task would).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys

from aiohttp import web


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="fake_daemon")
    p.add_argument("--ip", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--agent-id", default="")
    p.add_argument("--exit-code", type=int, default=None, help="print a message and exit with this code")
    p.add_argument("--never-healthy", action="store_true", help="answer /health with 503")
    p.add_argument("--ignore-sigterm", action="store_true")
    p.add_argument("--leave-child", action="store_true", help="start a `sleep` in a session of its own")
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    async def health(_: web.Request) -> web.Response:
        return web.Response(status=503 if args.never_healthy else 200, text="fake")

    async def state(_: web.Request) -> web.Response:
        return web.json_response({"id": args.agent_id})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/state", state)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, args.ip, args.port).start()
    stop = asyncio.Event()
    if not args.ignore_sigterm:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"fake daemon on {args.ip}:{args.port}", flush=True)
    if args.exit_code is not None:
        print(f"fake daemon failing on purpose with code {args.exit_code}", flush=True)
        sys.exit(args.exit_code)
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.leave_child:
        subprocess.Popen(["sleep", "1000"], start_new_session=True, stdin=subprocess.DEVNULL)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
