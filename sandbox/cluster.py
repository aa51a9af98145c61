"""`make cluster`: the sandbox as a cluster on one machine: a PostgreSQL server of its own
(Debian's packages, data in var/cluster/postgres, a unix socket there), two PBX Asterisk
nodes (`pbx` as in `make run`, and `pbx2` with its own folders, ports, RTP range and
entity id), the simulated carrier, and two service instances (API on 127.0.0.1:8081
and :8082) on that one database, each connected to both nodes, the same API key working
on both. Ctrl-C or SIGTERM stops all of it.

The end-to-end tests start the same parts (`Cluster`, `second_node`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sandbox.api import ApiProcess
from sandbox.lab import CHECKOUT, CONFIG, VAR, Instance, Lab, say
from sandbox.postgres import PostgresServer
from sandbox.run import ARI_PASSWORD, stop_signal

CLUSTER = VAR / "cluster"
PORTS = {"a": 8081, "b": 8082}
KEY = VAR / "api-key-cluster"
LOOK = "SELECT id, heartbeat_at, stopped_at FROM instances"
"""The instances and their heartbeats, for the admin to look at."""
NODES = [{"name": "pbx", "ari": {"url": "http://127.0.0.1:8088"}, "ami": {"port": 5038}},
         {"name": "pbx2", "ari": {"url": "http://127.0.0.1:8089"}, "ami": {"port": 5039}}]
"""The two PBX nodes, as a service's `asterisk.nodes` names them."""


def second_node(lab: Lab) -> Instance:
    """The second PBX node, started unless it runs: SIP 127.0.0.1:5062, ARI 8089, AMI
    5039, RTP 15000-15999; the first node's dialplan and carriers."""
    running = [i for i in lab.instances if i.name == "pbx2"]
    if running and running[0].process is not None and running[0].process.poll() is None:
        return running[0]
    for stale in running:
        lab.instances.remove(stale)
    data = yaml.safe_load(CONFIG.read_text())
    data["asterisk"] |= {"sip": "127.0.0.1:5062", "http": "127.0.0.1:8089",
                         "ami": "127.0.0.1:5039",
                         "tls": data["asterisk"]["tls"] | {"listen": "127.0.0.1:5063"}}
    data["asterisk"].pop("config_dir")
    data.pop("carriers_file")
    path = VAR / "pbx2.yaml"
    path.write_text(yaml.safe_dump(data))  # paths are relative to var/
    return lab.start_node("pbx2", path, rtp=(15000, 15999))


def instance_config(name: str, url: str, *, carrier: dict[str, Any] | None = None,
                    limits: dict[str, Any] | None = None,
                    cluster: dict[str, Any] | None = None) -> Path:
    """The sandbox's config for instance `name` of the cluster (paths relative to var/)."""
    data = yaml.safe_load(CONFIG.read_text())
    data["http"]["listen"] = f"127.0.0.1:{PORTS[name]}"
    data["storage"] = {"url": url, "key_file": "cluster/ari-app.key"}
    data["cluster"] = {"instance": name, **(cluster or {})}
    data["media"] |= {"dir": f"cluster/media-{name}",
                      "asterisk_dir": f"/srv/ari-app/cluster/media-{name}"}
    data["tts"]["asterisk_sounds"] = "asterisk-sounds"
    data.pop("carriers_file")
    data["asterisk"] = {"nodes": NODES, "tls": data["asterisk"]["tls"]}
    data["carriers"]["74445609"] |= carrier or {}
    data["limits"] |= limits or {}
    path = VAR / f"cluster-{name}.yaml"  # beside the others: paths are relative to var/
    path.write_text(yaml.safe_dump(data))
    return path


@dataclass
class Cluster:
    """PostgreSQL and two instances on it; the lab (PBX, carrier) is started apart."""

    postgres: PostgresServer = field(
        default_factory=lambda: PostgresServer(CLUSTER / "postgres", durable=True))
    instances: dict[str, ApiProcess] = field(default_factory=dict)
    url: str = ""

    def start(self, *, fresh: bool = False, **config: Any) -> None:
        CLUSTER.mkdir(parents=True, exist_ok=True)
        (CLUSTER / "postgres").mkdir(exist_ok=True)
        if fresh:  # an empty database, a new sealing key and API key
            self.postgres.stop()
            shutil.rmtree(self.postgres.data, ignore_errors=True)
            for stale in (KEY, CLUSTER / "ari-app.key"):
                stale.unlink(missing_ok=True)
        say("starting PostgreSQL (var/cluster/postgres)")
        self.postgres.start()
        if not self.postgres.sql("SELECT 1 FROM pg_database WHERE datname='ari_app'"):
            self.postgres.create_database("ari_app")
        self.url = self.postgres.url("ari_app")
        for name in PORTS:
            self.instances[name] = ApiProcess(
                log_path=VAR / "log" / f"api-cluster-{name}.log",
                config=instance_config(name, self.url, **config),
                url=f"http://127.0.0.1:{PORTS[name]}", key_path=KEY)
        for name, instance in self.instances.items():
            say(f"starting instance {name} on {instance.url}")
            instance.start()

    def stop(self) -> None:
        for instance in self.instances.values():
            instance.stop()
        self.postgres.stop()


@contextmanager
def cluster_running(lab: Lab, **config: Any) -> Iterator[Cluster]:
    second_node(lab)
    cluster = Cluster()
    try:
        cluster.start(fresh=True, **config)
        yield cluster
    finally:
        cluster.stop()


def run_foreground() -> None:
    stopping = stop_signal()
    lab = Lab(ari_password=ARI_PASSWORD)
    cluster = Cluster()
    try:
        lab.start()
        second_node(lab)
        cluster.start()
        a, b = (cluster.instances[name].url for name in PORTS)
        print(
            f"\n  Two instances on one PostgreSQL database: {a} and {b}, each on both PBX\n"
            "  nodes (pbx: SIP 5060, ARI 8088; pbx2: SIP 5062, ARI 8089)\n"
            f"  The same API key works on both: {KEY.relative_to(CHECKOUT)}\n"
            f"  export AUTH=\"Authorization: Bearer $(cat {KEY.relative_to(CHECKOUT)})\"\n"
            f"  curl -s -X POST {a}/voice/call/play -H \"$AUTH\" "
            "-H 'Content-Type: application/json' -d @tests/data/seed-tts.json\n"
            f"  curl -s -H \"$AUTH\" {b}/voice/call/status/<request_id>   # any instance\n"
            f"  psql '{cluster.url}' -c '{LOOK}'\n"
            "  Stop one (kill -9 its process): the other takes over its calls within 15 s.\n"
            "  logs: var/log/api-cluster-*.log   Ctrl-C stops everything.\n",
            flush=True,
        )
        while not stopping.is_set() and all(i.running() for i in cluster.instances.values()):
            time.sleep(0.2)
    finally:
        say("stopping")
        cluster.stop()
        lab.stop()
        say("stopped")


if __name__ == "__main__":
    run_foreground()
