"""Starts the real `handoff serve` (binary from $HANDOFF_BIN, default target/debug/handoff
of the repository) on a free port in a temporary data directory, and makes keys."""

from __future__ import annotations

import itertools
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterator, Optional

import pytest

from handoff import Client

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
_names = itertools.count(1)


def handoff_bin() -> str:
    b = os.environ.get("HANDOFF_BIN") or str(REPO / "target" / "debug" / "handoff")
    if not Path(b).is_file():
        pytest.exit(f"no handoff binary at {b}: build it (cargo build -p handoff) or set HANDOFF_BIN", 2)
    return b


class Server:
    """One running `handoff serve` and the keys made on it."""

    def __init__(self, policy: Optional[Path] = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="handoff-sdk-"))
        self.policy = policy
        self.log = open(self.dir / "server.log", "ab")
        self.base_url = self.start("127.0.0.1:0")
        self.admin_key = (self.dir / "data" / "admin.key").read_text().strip()
        self.admin = Client(self.base_url, self.admin_key)
        self._keys: Dict[str, str] = {}

    def start(self, addr: str) -> str:
        args = [handoff_bin(), "serve", "--data-dir", str(self.dir / "data"), "--addr", addr]
        if self.policy is not None:
            args += ["--policy", str(self.policy)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        return self._await_listening()

    def halt(self) -> None:
        """Stops the process (SIGTERM: it drains), keeping the data directory."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def resume(self) -> None:
        """Starts again on the same address and data directory."""
        self.start(self.base_url.split("://", 1)[1])

    def _await_listening(self) -> str:
        # A reader thread, not select(): a buffered text stream may already hold the line.
        lines: "queue.Queue[Optional[str]]" = queue.Queue()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:  # keeps draining, so the server never blocks
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 30
        seen = []
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            if line.startswith("handoff listening on "):
                return line.split(" on ", 1)[1].strip()
        self.halt()
        raise RuntimeError(f"handoff serve did not start: {''.join(seen)} (log: {self.dir}/server.log)")

    def key(self, role: str, name: str) -> str:
        """The key of principal `name` (made once)."""
        if name not in self._keys:
            self._keys[name] = self.admin.create_key(role, name)["key"]
        return self._keys[name]

    def client(self, role: str, name: str) -> Client:
        return Client(self.base_url, self.key(role, name))

    def new_agent(self) -> Client:
        """An agent of its own, so that tests never see each other's handoffs."""
        return self.client("agent", f"bot-{next(_names)}")

    def stop(self) -> None:
        self.halt()
        self.log.close()
        if os.environ.get("HANDOFF_KEEP_TEST_DATA") is None:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The built-in example policy: `ana` reviews `sales`, `oz` reviews `ops`."""
    s = Server()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def test_policy_server() -> Iterator[Server]:
    """tests/policy.toml: `quick_reply` expires after 2 s; `tag_ticket` is autonomous and
    every one is sampled for a spot check."""
    s = Server(HERE / "policy.toml")
    yield s
    s.stop()


@pytest.fixture
def agent(server: Server) -> Client:
    return server.new_agent()


@pytest.fixture
def ana(server: Server) -> Client:
    return server.client("reviewer", "ana")


@pytest.fixture
def oz(server: Server) -> Client:
    return server.client("reviewer", "oz")


@pytest.fixture
def admin(server: Server) -> Client:
    return server.admin


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    """Runs a gated call while the test plays the reviewer."""
    with ThreadPoolExecutor(max_workers=2) as p:
        yield p


@pytest.fixture
def submitted() -> "queue.Queue":
    """Pass `on_submit=submitted.put` to a gated function; `submitted.get(timeout=…)`
    hands the test the handoff the call submitted."""
    return queue.Queue()
