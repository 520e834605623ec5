"""Fixtures: a gslbd started once per test module with the standard test configuration
(gslbd_test.ZONE_FILE, LOCATION_MAP, the geo test databases), a factory for tests that need
their own daemon, and one for daemons with the control API."""
import pytest

import gslbd_test
from etcd_cluster import EtcdCluster


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = gslbd_test.free_port()
    path = gslbd_test.write_config(tmp_path_factory.mktemp("gslbd"), port)
    d = gslbd_test.Daemon(path, port)
    yield d
    d.stop()


@pytest.fixture
def start_gslbd(tmp_path):
    """start_gslbd(**main_config_kwargs) -> Daemon; every daemon is stopped (and its clean
    exit checked) after the test."""
    started = []

    def start(name="gslbd", zone_override=None, **kw):
        port = gslbd_test.free_port()
        if zone_override is not None:
            kw["zone"] = zone_override
        path = gslbd_test.write_config(tmp_path / name, port, **kw)
        d = gslbd_test.Daemon(path, port)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.returncode is None:
            d.stop()


@pytest.fixture
def ctl_daemon(start_gslbd, tmp_path):
    """start(name, **api_block_kwargs) -> (Daemon, Api): gslbd with the control API on a free
    port, its files in tmp_path / name."""

    def start(name="ctl", **kw):
        directory = tmp_path / name
        directory.mkdir(parents=True, exist_ok=True)
        api_port = gslbd_test.free_port()
        d = start_gslbd(name=name, extra=gslbd_test.api_block(api_port, directory, **kw))
        api = gslbd_test.Api(api_port)
        gslbd_test.wait_api(api)
        return d, api

    return start


@pytest.fixture(scope="module")
def etcd():
    """A real 3-member etcd cluster on loopback for the fleet tests of one module."""
    cluster = EtcdCluster()
    yield cluster
    cluster.stop()
