"""Node.js Bayeux clients (the official CometD client, Faye) run as subprocesses.

Each script in this folder handshakes, subscribes to /notifications/services, prints a JSON line
once subscribed, waits for one message, prints it, disconnects, prints that and exits 0.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PACKAGES = ("cometd", "cometd-nodejs-client", "faye")
STEP_TIMEOUT = 20.0


class NodeClient:
    """One node script run as a subprocess, read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def event(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), STEP_TIMEOUT)
        if not line:
            await self.finish()
            raise AssertionError(f"client exited early: {await self.stderr()}")
        event: dict[str, Any] = json.loads(line)
        return event

    async def stderr(self) -> str:
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode(errors="replace")

    async def finish(self) -> int:
        """Wait for the script to exit (killing it after STEP_TIMEOUT); its exit code."""
        try:
            return await asyncio.wait_for(self.process.wait(), STEP_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()


async def run_client(node: str, script: str, url: str, transport: str) -> NodeClient:
    process = await asyncio.create_subprocess_exec(
        node,
        str(HERE / script),
        url,
        transport,
        cwd=HERE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return NodeClient(process)
