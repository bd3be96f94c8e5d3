"""A throwaway Redis Cluster (3 masters, 3 replicas) and a Sentinel setup (master, replica,
3 Sentinels, quorum 2), all on free loopback ports in temp dirs, always torn down.

    from .redis_cluster import cluster, sentinel_group  # noqa: F401   (module-scoped fixtures)

The cluster is built by hand (ADDSLOTSRANGE, MEET, REPLICATE: quicker than
`redis-cli --cluster create`, which sleeps between steps) with `cluster-node-timeout`
1000 ms, so a killed master is failed over in about two seconds.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from .redis_server import BINARY, RedisServer, _cleanup, _kill, free_port

SLOTS = 16384
NODE_TIMEOUT_MS = 1000
SERVICE = "paywall-test"
# A replica's first full sync starts at once (the default waits 5 s for more replicas).
FAST_SYNC = ("--repl-diskless-sync-delay", "0")


def wait_for(what: str, check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll `check` (a RedisError counts as not yet) until it holds, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if check():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f}s")
        time.sleep(0.05)


class ClusterNode(RedisServer):
    """A cluster-enabled redis-server; its bus port is chosen free too (not port + 10000)."""

    def __init__(self) -> None:
        self.bus_port = free_port()
        super().__init__(
            BINARY,
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--cluster-port", str(self.bus_port),
            *FAST_SYNC,
        )  # fmt: skip

    def call(self, *args: Any) -> Any:
        with self.sync_client(socket_timeout=2) as client:
            return client.execute_command(*args)

    @property
    def node_id(self) -> str:
        return str(self.call("CLUSTER", "MYID").decode())

    def info(self, section: str) -> dict[str, Any]:
        with self.sync_client(socket_timeout=2) as client:
            return dict(client.info(section))

    def cluster_info(self) -> dict[str, str]:
        text = self.call("CLUSTER", "INFO").decode()
        return dict(line.split(":", 1) for line in text.split() if ":" in line)

    def is_master(self) -> bool:
        return bool(self.info("replication")["role"] == "master")


class Cluster:
    """3 masters and (with `replicas`) one replica each; `nodes[i + 3]` replicates `nodes[i]`."""

    def __init__(self, masters: int = 3, replicas: bool = True) -> None:
        self.nodes = [ClusterNode() for _ in range(masters * (2 if replicas else 1))]
        self.masters_at_start = self.nodes[:masters]
        try:
            self._create(masters)
        except BaseException:
            self.close()
            raise

    def _create(self, masters: int) -> None:
        for node in self.nodes:
            node.start()
        for i, node in enumerate(self.nodes[:masters]):
            first, last = SLOTS * i // masters, SLOTS * (i + 1) // masters - 1
            node.call("CLUSTER", "ADDSLOTSRANGE", first, last)
            node.call("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
        for node in self.nodes[1:]:
            self.nodes[0].call("CLUSTER", "MEET", "127.0.0.1", node.port, node.bus_port)
        wait_for(
            "every node to know every other",
            lambda: all(
                len(n.call("CLUSTER", "NODES").decode().splitlines()) == len(self.nodes)
                for n in self.nodes
            ),
        )
        ids = [node.node_id for node in self.nodes[:masters]]
        for i, replica in enumerate(self.nodes[masters:]):
            replica.call("CLUSTER", "REPLICATE", ids[i])
        self.wait_healthy()

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", node.port) for node in self.nodes]

    @property
    def url(self) -> str:
        """`redis+cluster://` with every node as a startup node."""
        return "redis+cluster://" + ",".join(f"{h}:{p}" for h, p in self.startup_nodes) + "/"

    def running(self) -> list[ClusterNode]:
        return [node for node in self.nodes if node.running]

    def masters(self) -> list[ClusterNode]:
        return [node for node in self.running() if node.is_master()]

    def node_for_slot(self, slot: int) -> ClusterNode:
        """The running master that owns `slot` (as the nodes themselves say)."""
        for first, last, (_, port, *_rest), *_replicas in self.running()[0].call(
            "CLUSTER", "SLOTS"
        ):
            if first <= slot <= last:
                return next(node for node in self.nodes if node.port == int(port))
        raise LookupError(f"no master owns slot {slot}")

    def keyslot(self, key: str) -> int:
        return int(self.running()[0].call("CLUSTER", "KEYSLOT", key))

    def keys(self, pattern: str) -> dict[str, ClusterNode]:
        """Every key matching `pattern` on the running masters, with the master holding it."""
        found: dict[str, ClusterNode] = {}
        for node in self.masters():
            for key in node.call("KEYS", pattern):
                found[key.decode()] = node
        return found

    def replicas_caught_up(self) -> bool:
        """Every running replica has applied everything its master has sent."""
        for node in self.running():
            info = node.info("replication")
            if info["role"] == "master" and info.get("connected_slaves", 0):
                offset = info["master_repl_offset"]
                replicas = [v for k, v in info.items() if k.startswith("slave")]
                if any(isinstance(r, dict) and r.get("offset") != offset for r in replicas):
                    return False
        return True

    def ok_everywhere(self) -> bool:
        return all(node.cluster_info()["cluster_state"] == "ok" for node in self.running())

    def wait_healthy(self, timeout: float = 20.0) -> None:
        """cluster_state:ok on every running node, each replica linked, all in sync."""

        def healthy() -> bool:
            if not self.ok_everywhere():
                return False
            for node in self.running():
                info = node.info("replication")
                if info["role"] != "master" and info.get("master_link_status") != "up":
                    return False
            # Every node agrees on the slot map (same CLUSTER SLOTS, set-wise).
            views = {
                frozenset((s[0], s[1], int(s[2][1])) for s in node.call("CLUSTER", "SLOTS"))
                for node in self.running()
            }
            return len(views) == 1 and self.replicas_caught_up()

        wait_for("a healthy cluster", healthy, timeout)

    def kill_master(self, node: ClusterNode) -> ClusterNode:
        """SIGKILL `node` (a master) and return its replica, which is to take over."""
        assert node.is_master()
        replica = next(
            n
            for n in self.running()
            if n is not node and n.info("replication").get("master_port") == node.port
        )
        node.kill()
        return replica

    def wait_failover(self, replica: ClusterNode, timeout: float = 15.0) -> None:
        """Until `replica` is a master and every surviving node says cluster_state:ok."""
        wait_for(
            f"node {replica.port} to be promoted",
            lambda: replica.is_master() and self.ok_everywhere(),
            timeout,
        )

    def heal(self) -> None:
        """Start any killed node again (it rejoins as a replica) and wait until healthy."""
        for node in self.nodes:
            node.start()
        self.wait_healthy()

    def close(self) -> None:
        for node in self.nodes:
            node.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A Redis Cluster of 3 masters + 3 replicas, started once per test module."""
    if shutil.which(BINARY) is None:
        pytest.skip(f"{BINARY} is not installed")
    built = Cluster()
    try:
        yield built
    finally:
        built.close()


# --- Sentinel ----------------------------------------------------------------------------


class SentinelProcess:
    """One `redis-server sentinel.conf --sentinel` on a free port, in its own temp dir."""

    def __init__(self, master_port: int, quorum: int, down_after_ms: int = 1000) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="paywall-sentinel-"))
        self.port = free_port()
        self.conf = self.dir / "sentinel.conf"
        self.conf.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f'dir "{self.dir}"\n'
            f'logfile "{self.dir / "sentinel.log"}"\n'
            f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} {quorum}\n"
            f"sentinel down-after-milliseconds {SERVICE} {down_after_ms}\n"
            f"sentinel failover-timeout {SERVICE} 6000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._finalizer = weakref.finalize(self, _cleanup, self.dir, [])

    def start(self) -> None:
        binary = shutil.which(BINARY)
        assert binary is not None
        self.process = subprocess.Popen(
            [binary, str(self.conf), "--sentinel"],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _cleanup, self.dir, [self.process])
        wait_for(f"sentinel on {self.port}", lambda: bool(self.client().ping()), 10)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def master(self) -> dict[str, Any]:
        with self.client() as client:
            return dict(client.sentinel_master(SERVICE))

    def master_port(self) -> int:
        with self.client() as client:
            _, port = client.sentinel_get_master_addr_by_name(SERVICE)
            return int(port)

    def close(self) -> None:
        if self.process is not None:
            _kill(self.process)
        self._finalizer()


class SentinelGroup:
    """A master, one replica and `sentinels` Sentinels watching them as SERVICE."""

    def __init__(self, sentinels: int = 3) -> None:
        self.master = RedisServer(BINARY, *FAST_SYNC)
        self.replica: RedisServer | None = None
        self.sentinels: list[SentinelProcess] = []
        try:
            self.master.start()
            self.replica = RedisServer(
                BINARY, "--replicaof", "127.0.0.1", str(self.master.port), *FAST_SYNC
            )
            self.replica.start()
            quorum = sentinels // 2 + 1
            self.sentinels = [SentinelProcess(self.master.port, quorum) for _ in range(sentinels)]
            for sentinel in self.sentinels:
                sentinel.start()
            self.wait_ready(sentinels - 1)
        except BaseException:
            self.close()
            raise

    def url(self, db: int = 0) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/{db}"

    def servers(self) -> list[RedisServer]:
        return [s for s in (self.master, self.replica) if s is not None]

    def wait_ready(self, other_sentinels: int, timeout: float = 20.0) -> None:
        """Every Sentinel sees the master up, its replica, and the other Sentinels."""

        def ready() -> bool:
            for sentinel in self.sentinels:
                state = sentinel.master()
                if state["num-slaves"] < 1 or state["num-other-sentinels"] < other_sentinels:
                    return False
                if state["is_sdown"] or state["is_odown"]:
                    return False
            return self.in_sync()

        wait_for("the Sentinels to see master, replica and each other", ready, timeout)

    def in_sync(self) -> bool:
        """The replica is linked and has applied everything the master sent."""
        assert self.replica is not None
        with self.master.sync_client() as m, self.replica.sync_client() as r:
            offset = m.info("replication")["master_repl_offset"]
            info = r.info("replication")
            return bool(
                info.get("master_link_status") == "up" and info.get("slave_repl_offset") == offset
            )

    def kill_master(self) -> RedisServer:
        """SIGKILL the master; returns the replica that is to be promoted."""
        assert self.replica is not None
        old, new = self.master, self.replica
        old.kill()
        self.master, self.replica = new, old
        return new

    def wait_failover(self, timeout: float = 20.0) -> None:
        """Until every Sentinel names the former replica as master and it says so itself."""

        def promoted() -> bool:
            if any(s.master_port() != self.master.port for s in self.sentinels):
                return False
            with self.master.sync_client() as client:
                return bool(client.info("replication")["role"] == "master")

        wait_for("the Sentinels to promote the replica", promoted, timeout)

    def close(self) -> None:
        for sentinel in self.sentinels:
            sentinel.close()
        for server in (self.master, self.replica):
            if server is not None:
                server.close()


@pytest.fixture(scope="module")
def sentinel_group() -> Iterator[SentinelGroup]:
    """A master, a replica and 3 Sentinels (quorum 2), started once per test module."""
    if shutil.which(BINARY) is None:
        pytest.skip(f"{BINARY} is not installed")
    group = SentinelGroup()
    try:
        yield group
    finally:
        group.close()
