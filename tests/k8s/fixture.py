"""The session-scoped `kube_apiserver` fixture: a real kube-apiserver 1.20 with etcd on loopback.

Test modules under tests/ import it (tests/ is on sys.path; a conftest.py here would only serve tests
inside tests/k8s/):

    from k8s.fixture import kube_apiserver  # noqa: F401

The binary is built by tests/k8s/build-apiserver.sh. When it is missing the fixture builds it if
NBJOBS_BUILD_K8S=1 (CI sets it), and otherwise skips the tests that use it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from k8s import apiserver
from k8s.apiserver import ApiServer

SKIP_REASON = "kube-apiserver not built: run tests/k8s/build-apiserver.sh (about six minutes)"


@pytest.fixture(scope="session")
def kube_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    if apiserver.binary_path() is None or apiserver.etcd_path() is None:
        if os.environ.get("NBJOBS_BUILD_K8S") != "1":
            pytest.skip(SKIP_REASON if apiserver.binary_path() is None else "etcd missing: " + SKIP_REASON)
        apiserver.build()
    server = apiserver.start(tmp_path_factory.mktemp("kube-apiserver"))
    try:
        yield server
    finally:
        server.stop()
