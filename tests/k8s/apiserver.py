"""A real kube-apiserver (1.20, built from Debian's sources) on loopback, for tests.

`build-apiserver.sh` beside this file builds the binary once into the cache
(`${NBJOBS_CACHE:-~/.cache/nbjobs}/kube-apiserver-1.20/kube-apiserver`). `start()` runs Debian's etcd
and that apiserver on free ports of 127.0.0.1 with a static token file and RBAC: no scheduler, no
controller-manager, no kubelet, so Jobs are accepted and never run. Two identities: an admin (group
system:masters) and a restricted user (no groups, so RBAC denies it everything but discovery).

Since no controller-manager runs, nothing creates a namespace's `default` ServiceAccount: the helper
creates it in every namespace it makes (`ApiServer.create_namespace`), so the ServiceAccount admission
plugin stays on as on a real cluster.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build-apiserver.sh"
JOBS_NAMESPACE = "nbjobs-jobs"
ADMIN_USER = "nbjobs-admin"
RESTRICTED_USER = "nbjobs-restricted"
READY_DEADLINE_S = 60.0
STOP_GRACE_S = 10.0
LOG_TAIL_LINES = 40
_PR_SET_PDEATHSIG = 1


class ApiServerError(RuntimeError):
    """Building or starting the apiserver failed; the message carries the relevant log tails."""


def cache_dir() -> Path:
    return Path(os.environ.get("NBJOBS_CACHE") or Path.home() / ".cache" / "nbjobs")


def binary_path() -> Path | None:
    """The cached kube-apiserver binary, or None when it has not been built."""
    binary = cache_dir() / "kube-apiserver-1.20" / "kube-apiserver"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def etcd_path() -> Path | None:
    """Debian's etcd (package etcd-server, which the build script installs), or None."""
    found = shutil.which("etcd") or ("/usr/bin/etcd" if os.access("/usr/bin/etcd", os.X_OK) else None)
    return Path(found) if found else None


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"({path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def build() -> Path:
    """Run build-apiserver.sh (cold: about six minutes; a no-op once built) and return the binary."""
    log = cache_dir() / "build-apiserver.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        result = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=out, stderr=subprocess.STDOUT, check=False)
    binary = binary_path()
    if result.returncode != 0 or binary is None:
        raise ApiServerError(f"{BUILD_SCRIPT} failed (exit {result.returncode}); log {log}, its tail:\n{_tail(log)}")
    return binary


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ApiServerError(f"openssl {' '.join(args)} failed: {result.stderr.strip()}")


def _make_pki(pki: Path) -> None:
    """A CA, a serving certificate for 127.0.0.1/localhost signed by it, a service-account key pair."""
    pki.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "2", "-subj", "/CN=nbjobs-test-ca", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=pki)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=kube-apiserver", cwd=pki)  # fmt: skip
    (pki / "server.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "2", "-extfile", "server.ext", cwd=pki)  # fmt: skip
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    for key in ("ca.key", "server.key", "sa.key"):
        (pki / key).chmod(0o600)


def _write_kubeconfig(path: Path, *, url: str, ca_file: Path, user: str, token: str) -> None:
    # JSON is YAML: kubectl and the Python client read it as a kubeconfig.
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "nbjobs-test", "cluster": {"server": url, "certificate-authority": str(ca_file)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "nbjobs-test", "user": user}}],
        "current-context": user,
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class ApiServer:
    """A running etcd + kube-apiserver pair; `stop()` ends both (also at interpreter exit)."""

    url: str
    ca_file: Path
    admin_kubeconfig: Path
    restricted_kubeconfig: Path
    admin_token: str
    restricted_token: str
    tmp_dir: Path
    _processes: list[_Process] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        """Terminate every process (apiserver first), killing any still alive after 10 s. Idempotent."""
        for proc in reversed(self._processes):
            if proc.popen.poll() is None:
                proc.popen.terminate()
                try:
                    proc.popen.wait(STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    proc.popen.kill()
                    proc.popen.wait()
        self._processes.clear()

    def log_tails(self) -> str:
        return "\n".join(f"--- {p.name} ({p.log}, exit {p.popen.poll()}) ---\n{_tail(p.log)}" for p in self._processes)

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, token: str | None = None
    ) -> tuple[int, dict[str, Any] | str]:
        """One API call (admin token unless given): (HTTP status, decoded JSON body or text)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.admin_token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(req, context=context, timeout=10) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def create_namespace(self, name: str) -> None:
        """Create a namespace and its `default` ServiceAccount (no controller-manager makes it)."""
        for path, obj in (
            ("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
            (
                f"/api/v1/namespaces/{name}/serviceaccounts",
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
            ),
        ):
            status, answer = self.request("POST", path, obj)
            if status not in (201, 409):
                raise ApiServerError(f"POST {path}: HTTP {status}: {answer}")


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies, even from SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(processes: list[_Process], name: str, argv: Sequence[str], log: Path) -> _Process:
    with log.open("wb") as out:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    proc = _Process(name, popen, log)
    processes.append(proc)
    return proc


def _wait_ready(server: ApiServer, deadline: float) -> None:
    last = "no answer yet"
    while time.monotonic() < deadline:
        for proc in server._processes:
            if proc.popen.poll() is not None:
                raise ApiServerError(f"{proc.name} exited with {proc.popen.returncode} before /readyz")
        try:
            status, answer = server.request("GET", "/readyz")
        except (OSError, ssl.SSLError) as exc:  # not listening yet
            last = repr(exc)
        else:
            if status == 200:
                return
            last = f"HTTP {status}: {str(answer)[-500:]}"
        time.sleep(0.25)
    raise ApiServerError(f"/readyz not ok within {READY_DEADLINE_S:.0f} s; last answer: {last}")


def start(tmp_dir: Path) -> ApiServer:
    """Start etcd and kube-apiserver in tmp_dir (certificates, tokens, data, logs, kubeconfigs).

    Waits for /readyz (60 s at most), creates namespace `nbjobs-jobs` with its default ServiceAccount.
    On any failure everything started is stopped and ApiServerError carries the logs' tails.
    """
    binary = binary_path()
    if binary is None:
        raise ApiServerError(f"kube-apiserver not built: run {BUILD_SCRIPT} (about six minutes)")
    etcd = etcd_path()
    if etcd is None:
        raise ApiServerError("etcd not found: apt-get install etcd-server (build-apiserver.sh installs it)")
    tmp_dir.mkdir(parents=True, exist_ok=True)
    pki = tmp_dir / "pki"
    _make_pki(pki)

    admin_token, restricted_token = secrets.token_hex(24), secrets.token_hex(24)
    tokens = tmp_dir / "tokens.csv"
    # token,user,uid[,"group1,group2"]
    tokens.write_text(
        f'{admin_token},{ADMIN_USER},uid-{ADMIN_USER},"system:masters"\n'
        f"{restricted_token},{RESTRICTED_USER},uid-{RESTRICTED_USER}\n"
    )
    tokens.chmod(0o600)

    etcd_client, etcd_peer, secure_port = _free_port(), _free_port(), _free_port()
    url = f"https://127.0.0.1:{secure_port}"
    server = ApiServer(
        url=url,
        ca_file=pki / "ca.crt",
        admin_kubeconfig=tmp_dir / "admin.kubeconfig",
        restricted_kubeconfig=tmp_dir / "restricted.kubeconfig",
        admin_token=admin_token,
        restricted_token=restricted_token,
        tmp_dir=tmp_dir,
    )
    atexit.register(server.stop)
    try:
        _spawn(server._processes, "etcd", etcd_argv(etcd, tmp_dir / "etcd", etcd_client, etcd_peer),
               tmp_dir / "etcd.log")  # fmt: skip
        _spawn(server._processes, "kube-apiserver",
               apiserver_argv(binary, pki=pki, tokens=tokens, etcd_url=f"http://127.0.0.1:{etcd_client}",
                              secure_port=secure_port),
               tmp_dir / "kube-apiserver.log")  # fmt: skip
        _wait_ready(server, time.monotonic() + READY_DEADLINE_S)
        server.create_namespace(JOBS_NAMESPACE)
        _write_kubeconfig(server.admin_kubeconfig, url=url, ca_file=server.ca_file, user=ADMIN_USER,
                          token=admin_token)  # fmt: skip
        _write_kubeconfig(server.restricted_kubeconfig, url=url, ca_file=server.ca_file, user=RESTRICTED_USER,
                          token=restricted_token)  # fmt: skip
    except BaseException as exc:
        tails = server.log_tails()
        server.stop()
        if isinstance(exc, Exception):
            raise ApiServerError(f"{exc}\n{tails}") from exc
        raise
    return server


def etcd_argv(etcd: Path, data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [
        str(etcd),
        "--name", "nbjobs-test",
        "--data-dir", str(data_dir),
        "--listen-client-urls", client,
        "--advertise-client-urls", client,
        "--listen-peer-urls", peer,
        "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"nbjobs-test={peer}",
        "--initial-cluster-state", "new",
        "--logger", "zap",
        "--log-level", "warn",
    ]  # fmt: skip


def apiserver_argv(binary: Path, *, pki: Path, tokens: Path, etcd_url: str, secure_port: int) -> list[str]:
    return [
        str(binary),
        "--etcd-servers", etcd_url,
        "--bind-address", "127.0.0.1",
        "--advertise-address", "127.0.0.1",
        "--secure-port", str(secure_port),
        "--insecure-port", "0",
        "--tls-cert-file", str(pki / "server.crt"),
        "--tls-private-key-file", str(pki / "server.key"),
        "--token-auth-file", str(tokens),
        "--authorization-mode", "RBAC",
        "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
        "--service-account-key-file", str(pki / "sa.pub"),
        "--service-account-signing-key-file", str(pki / "sa.key"),
        # Only recorded in etcd (the `kubernetes` Service's ClusterIP): nothing is routed there.
        "--service-cluster-ip-range", "10.0.0.0/24",
        # The reconciler would write 127.0.0.1 into the `kubernetes` Endpoints, which validation refuses.
        "--endpoint-reconciler-type", "none",
        "--profiling=false",
        "--v", "1",
    ]  # fmt: skip
