import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from peers import HttpSink  # noqa: E402

MINIMAL = "dev_sno: ZKZCPI000120190807142601\nWEB_HEART_URL: http://127.0.0.1:9/DeviceStatus\n"


@pytest.fixture
def write_config(tmp_path):
    def write(text: str = MINIMAL, name: str = "sereport.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
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
