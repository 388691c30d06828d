"""A bounded fuzz run of the local API against its description, openapi.yaml (schemathesis):
every operation of a real `sereport run` over loopback (waitress), with the change token so
that setconfigs and the device changes are exercised too.  Each answer must be documented
for its operation (status, content type, headers) and match its schema, and none may be a
5xx.  Bounded: EXAMPLES examples per operation, no shrinking (a failure is reported as
found), 10 s per request, and once BUDGET seconds have gone the examples left are passed
over without a request; the run takes about 15 s.  No hypothesis deadline: the daemon's own
timing is not under test here.  A second pass sends the reads with made-up Authorization
headers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import ignored_auth, negative_data_rejection
from schemathesis.types import NotSet

from openapi_check import SPEC as DESCRIPTION
from peers import Platform, refused_port
from procs import Logged
from sereport.service import api

# What needs the change token, from the API's own route table (not from the description).
CHANGES = {route for route, handler in api.ROUTES.items() if handler in api.CHANGES}

LICENCE = "ZKZCPI000120190807142601"
SPEC = Path(__file__).parents[2] / "sereport" / "service" / "openapi.yaml"
EXAMPLES = 60  # per operation and generation method
BUDGET = 45.0  # seconds for the whole run, the daemon's start included


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    """A running daemon: (base URL, its change token, when the budget ends)."""
    until = time.monotonic() + BUDGET
    tmp = tmp_path_factory.mktemp("fuzz")
    platform = Platform()
    port = refused_port()
    path = tmp / "sereport.yaml"
    # Fuzzed changes may add devices and set any settable key: the guard in the process
    # keeps every packet on loopback, and the files stay in tmp.
    path.write_text(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {platform.url}\nWEB_HEART_TIME: 1\n"
                    f"api_port: {port}\nstate_dir: {tmp}/state\nruntime_dir: {tmp}/run\n"
                    "offline_beat_on_stop: false\nprobe_timeout: 0.5\n")
    proc = Logged(tmp / "daemon", "--config", str(path), "run")
    try:
        proc.wait_log("local API on")
        yield (f"http://127.0.0.1:{port}", (tmp / "state" / "api-token").read_text().strip(),
               until)
    finally:
        proc.kill()
        platform.close()
    assert "internal error" not in proc.log() and "Traceback" not in proc.log(), proc.log()


@pytest.fixture(scope="module")
def api_schema(fuzzed):
    """Valid and invalid requests; the token is the test's to send (below), not made up."""
    base, token, until = fuzzed
    loaded = schemathesis.from_path(
        str(SPEC), base_url=base, data_generation_methods=schemathesis.DataGenerationMethod.all(),
        generation_config=schemathesis.GenerationConfig(with_security_parameters=False))
    loaded.fuzz_headers = {"Authorization": f"Bearer {token}"}
    loaded.fuzz_until = until
    return loaded


@pytest.fixture(scope="module")
def read_schema(fuzzed):
    """The reads, with whatever Authorization header schemathesis makes up (a value HTTP
    does not allow is refused before routing: a 400 every operation must describe)."""
    base, _, until = fuzzed
    loaded = schemathesis.from_path(str(SPEC), base_url=base).include(method="GET")
    loaded.fuzz_until = until
    return loaded


schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_every_answer_keeps_the_contract(case, api_schema):
    if time.monotonic() > api_schema.fuzz_until:
        return  # the budget is spent: the examples left pass by unsent
    # A change requires the token (its own `security`): the ignored_auth check sends it
    # again without the token, and with a wrong one, and wants a 401. A read takes it or not
    # (security: {} or token); schemathesis 3 counts any declared scheme as required, so
    # the check is left out there, and reads are sent without a token.
    change = (case.method.upper(), case.operation.path) in CHANGES
    excluded = [] if change else [ignored_auth]
    if isinstance(case.body, NotSet):  # a "negative" case of an optional body that sends none
        excluded.append(negative_data_rejection)
    case.call_and_validate(headers=api_schema.fuzz_headers if change else None, timeout=10,
                           excluded_checks=tuple(excluded))


def test_the_description_says_which_operations_need_the_token():
    """A change requires the token; a read takes it or not (api_token decides)."""
    assert DESCRIPTION["security"] == [{}, {"token": []}]
    for path, item in DESCRIPTION["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "delete"):
                wanted = [{"token": []}] if (method.upper(), path) in CHANGES else None
                assert operation.get("security") == wanted, (method, path)


reads = schemathesis.from_pytest_fixture("read_schema")


@reads.parametrize()
@settings(max_examples=EXAMPLES // 2, deadline=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_reads_with_any_authorization_keep_the_contract(case, read_schema):
    if time.monotonic() > read_schema.fuzz_until:
        return  # the budget is spent: the examples left pass by unsent
    # Without api_token a read needs no token, so a made-up one is no error: ignored_auth
    # (which counts any declared scheme as required) is left out.
    case.call_and_validate(timeout=10, excluded_checks=(ignored_auth,))
