from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "guard"))

import sitecustomize  # noqa: E402,F401 - the no-traffic-off-loopback guard, in this process too
from peers import HttpSink, refused_port  # noqa: E402

# Delivery takes proxies from the environment: the tests (and the processes they start)
# go direct unless a test sets its own.
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
    os.environ.pop(_name, None)
    os.environ.pop(_name.lower(), None)

api_ports: dict[str, int] = {}

MINIMAL = "dev_sno: ZKZCPI000120190807142601\nWEB_HEART_URL: http://127.0.0.1:9/DeviceStatus\n"


@pytest.fixture(autouse=True)
def _own_data_home(tmp_path, monkeypatch):
    """`sereport receive` keeps its history under $XDG_DATA_HOME: each test its own."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture
def write_config(tmp_path):
    """Write a config file; state and runtime files go under tmp_path unless it says."""
    def write(text: str = MINIMAL, name: str = "sereport.yaml") -> str:
        text = textwrap.dedent(text)
        try:
            isolate = isinstance(yaml.safe_load(text) or {}, dict)
        except (yaml.YAMLError, RecursionError):
            isolate = False  # a test of broken YAML: leave it as it is
        for key in ("state_dir", "runtime_dir"):
            if isolate and f"{key}:" not in text:
                text += f"\n{key}: {tmp_path / key}\n"
        if isolate and "api_port:" not in text:  # daemons of one test run must not share a port
            text += f"api_port: {api_ports.setdefault(str(tmp_path), refused_port())}\n"
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)
    return write


@pytest.fixture
def sink():
    server = HttpSink()
    yield server
    server.close()


@pytest.fixture
def spawn():
    """Start a sereport subprocess that is killed at teardown, even if the test failed."""
    import procs

    started = []

    def start(*args, **kwargs):
        proc = procs.start(*args, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture
def daemon(tmp_path):
    """Start `sereport --config PATH run` with its output in files; killed at teardown."""
    import procs

    started = []

    def start(config_path: str, extra_env: dict | None = None, name: str = "daemon"):
        proc = procs.Logged(tmp_path / name, "--config", config_path, "run", extra_env=extra_env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
