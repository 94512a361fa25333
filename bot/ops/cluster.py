"""Several Rasa servers and action servers behind nginx, on the production profile's services.

    python -m bot.ops.cluster [--instances 2] [--port 5100]

Each instance is a Rasa server with its own action server; all share PostgreSQL (tracker store,
cases, events), Redis (lock store, socket.io rooms) and RabbitMQ (event broker, emptied into
PostgreSQL by one ``bot.production.broker_consumer``). nginx (Debian's) listens on ``--port`` and
spreads requests over the instances: round robin for webhooks and the HTTP API, and by client
address for socket.io (its long-polling needs the same instance for a session). One adviser API
(with the hand-off watcher) and one console talk to Rasa through nginx.

Ports: nginx ``port``; Rasa ``port+10+i``; action servers ``port+20+i``; adviser API ``port+30``;
console ``port+31``; web app ``port+32``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.ops.servers import ROOT, Servers, port_is_free, private_child, rasa_env, wait_for
from bot.production.profile import ProductionProfile, ensure_database

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

NGINX_CONF = """\
# Written by bot.ops.cluster.
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    client_max_body_size 64k;
    upstream rasa {{
{servers}
        keepalive 32;
    }}
    upstream rasa_sticky {{
        hash $remote_addr consistent;
{servers}
    }}
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
        location /socket.io/ {{
            proxy_pass http://rasa_sticky;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_read_timeout 120s;
        }}
        location / {{
            proxy_pass http://rasa;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


@dataclass
class Cluster:
    model: Path
    profile: ProductionProfile
    instances: int = 2
    port: int = 5100
    data_dir: Path = field(default_factory=lambda: ROOT / "var" / "cluster")
    extra_env: dict[str, str] = field(default_factory=dict)
    with_console: bool = True
    servers: list[Servers] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def rasa_port(self, i: int) -> int:
        return self.port + 10 + i

    def instance_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.rasa_port(i)}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def adviser_url(self) -> str:
        return f"http://127.0.0.1:{self.port + 30}"

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.port + 31}"

    @property
    def env(self) -> dict[str, str]:
        return {**self.profile.service_env(), **self.extra_env}

    def start(self, timeout: float = 240.0) -> Cluster:
        ports = [self.port, self.port + 30, self.port + 31]
        ports += [self.port + 10 + i for i in range(self.instances)]
        ports += [self.port + 20 + i for i in range(self.instances)]
        busy = [p for p in ports if not port_is_free(p)]
        if busy:
            raise RuntimeError(f"Port(s) {busy} are in use: stop what uses them or pick --port.")
        if not Path(NGINX).exists():
            raise RuntimeError("nginx is needed for the cluster: apt-get install nginx-light")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_database(self.profile.postgres_url)
        logs = self.data_dir / "logs"
        logs.mkdir(exist_ok=True)
        env = rasa_env({"SEN_DATA_DIR": str(self.data_dir), **self.env})
        try:
            self._launch(
                "broker-consumer", [sys.executable, "-m", "bot.production.broker_consumer"], env
            )
            self._start_instances(timeout)
            self._start_nginx(timeout)
            to_rasa = {"SEN_RASA_URL": self.url}
            waits = [
                (
                    f"{self.adviser_url}/health",
                    self._launch(
                        "adviser-api",
                        [sys.executable, "-m", "bot.adviser.api", "serve"],
                        {**env, **to_rasa, "SEN_ADVISER_API_PORT": str(self.port + 30)},
                    ),  # fmt: skip
                    logs / "adviser-api.log",
                )
            ]
            if self.with_console:
                waits.append(
                    (
                        f"{self.console_url}/health",
                        self._launch(
                            "console",
                            [sys.executable, "-m", "bot.adviser.console", "serve"],
                            {**env, **to_rasa, "SEN_CONSOLE_PORT": str(self.port + 31)},
                        ),  # fmt: skip
                        logs / "console.log",
                    )
                )
            for url, process, log in waits:
                wait_for(url, timeout, process, log)
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        log_path = self.data_dir / "logs" / f"{name}.log"
        log = log_path.open("w")
        log_path.chmod(0o600)  # what parents wrote can reach a log
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=private_child,
        )  # fmt: skip
        self.processes.append(process)
        return process

    def _start_instances(self, timeout: float) -> None:
        for i in range(self.instances):
            directory = self.data_dir / f"instance-{i}"
            directory.mkdir(exist_ok=True)
            actions_port = self.port + 20 + i
            endpoints = self.profile.write_endpoints(
                directory, f"http://127.0.0.1:{actions_port}/webhook"
            )
            servers = Servers(
                self.model, self.rasa_port(i), actions_port, adviser_port=None,
                data_dir=self.data_dir, endpoints=endpoints, log_dir=directory,
                extra_env=self.env,
            )  # fmt: skip
            self.servers.append(servers)
            # Launched side by side (each takes ~30 s to load the model), from this thread:
            # the servers end with the thread that started them (die_with_parent).
            servers.start(timeout, wait=False)
        for servers in self.servers:
            servers.wait_until_ready(timeout)

    def _start_nginx(self, timeout: float) -> None:
        directory = self.data_dir / "nginx"
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (directory / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        servers = "\n".join(
            f"        server 127.0.0.1:{self.rasa_port(i)};" for i in range(self.instances)
        )
        conf = directory / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=directory, servers=servers, port=self.port))
        process = self._launch(
            "nginx", [NGINX, "-p", str(directory), "-c", str(conf), "-g", "daemon off;"], {}
        )
        deadline = time.monotonic() + timeout
        import urllib.request

        while time.monotonic() < deadline:
            if process.poll() is not None:
                log = (self.data_dir / "logs" / "nginx.log").read_text()
                raise RuntimeError(f"nginx stopped (exit {process.returncode}): {log[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("nginx did not answer in time")

    def stop(self) -> None:
        for servers in self.servers:
            servers.stop()
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()
        self.servers.clear()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.ops.cluster", description=__doc__)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--port", type=int, default=5100)
    options = parser.parse_args(argv)
    model = ROOT / "models" / "sen-assistant.tar.gz"
    cluster = Cluster(
        model, ProductionProfile.from_env(), options.instances, options.port,
        data_dir=Path(tempfile.mkdtemp(prefix="sen-cluster-")),
    )  # fmt: skip
    print(f"Starting {options.instances} Rasa + action server pairs behind nginx...")
    with cluster:
        print(
            f"Running: nginx {cluster.url}, adviser API {cluster.adviser_url}, console "
            f"{cluster.console_url}. Logs in {cluster.data_dir / 'logs'}. Ctrl-C stops."
        )
        try:
            while all(p.poll() is None for p in cluster.processes):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
