"""The local HTTP API: the vendor box's config API, devices, status, metrics.

Served by ``sereport run`` on ``api_host:api_port`` (127.0.0.1:5556 by
default; the vendor's own service is on 5555, and the paths are the
vendor's, so a client only changes the port).  Bound anywhere but loopback
it needs ``api_token``, and with a token every request must carry
``Authorization: Bearer TOKEN``.  Bad input never changes anything: it gets
a 4xx with a one-line reason in ``{"result": "error", "error": ...}``.  The
API is described in openapi.yaml, served at /openapi.yaml.

It is a WSGI app (``app``) served by waitress through ``sereport.httpd``:
HTTP/1.1 with keep-alive, HEAD on every GET path, chunked bodies, at most
``THREADS`` requests at a time on ``CONNECTION_LIMIT`` connections, each
closed after ``api_idle_timeout`` seconds of quiet; malformed framing is
refused with a 4xx and the connection closed.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
from typing import Callable
from urllib.parse import unquote

from sereport import config, httpd, limits
from sereport.config import origins, overrides
from sereport.redact import redact_url
from sereport.service import metrics
from sereport.service.view import View
from sereport.devices.registry import Conflict, NotFound, RegistryError, StorageError

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
THREADS = 4  # requests served at a time; the threads are made when the API starts
CONNECTION_LIMIT = 100  # open connections; more wait in the listen backlog
CONFIG_PREFIX = "/sophon/v2/face/"


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status, self.extra = status, extra


# --- the handlers: (view, body or None, path parameter) -> (status, JSON body) -------

NO_BODY = object()  # a request without a body (a JSON null is a body)


def get_configs(view: View, body, _param) -> tuple[int, object]:
    values = origins.effective(view.cfg)
    if body is NO_BODY or body == {}:
        return 200, values
    if not isinstance(body, dict) or set(body) - {"config_name"}:
        raise ApiError(400, 'the body must be {"config_name": NAME} or empty')
    name = body.get("config_name")
    if not isinstance(name, str):
        raise ApiError(400, "config_name must be a string")
    name = config.canonical(name)
    if name not in values:
        raise ApiError(404, f"no config key {name!r}")
    return 200, {name: values[name]}


def set_configs(view: View, body, _param) -> tuple[int, object]:
    if not isinstance(body, dict) or set(body) != {"config_dict"}:
        raise ApiError(400, 'the body must be {"config_dict": {KEY: VALUE, ...}}')
    changes = body["config_dict"]
    if not isinstance(changes, dict) or not changes:
        raise ApiError(400, "config_dict must be an object with at least one key")
    known = set(origins.names()) | set(config.CANONICAL)
    with view.config_lock:
        path = view.cfg.path
        over_path = view.cfg.overrides_path
        errors = {key: "cannot be set through the API; set it in the config file"
                  for key in changes if key in config.NOT_SETTABLE}
        if not errors:
            errors = {key: "unknown key; see the README for the keys" for key in changes
                      if key not in known}
            valid = {key: value for key, value in changes.items() if key not in errors}
            try:
                file_values = overrides.fold(config.read_file(path))
                proposed = overrides.applied(config.read_overrides(over_path), valid, file_values)
                config.load(path, overrides=proposed)
            except config.ConfigError as exc:
                errors.update(_errors_by_key(exc.problems, valid, over_path))
        if errors:
            raise ApiError(400, f"nothing changed: {len(errors)} bad key(s)", errors=errors)
        try:
            overrides.write(over_path, proposed)
        except OSError as exc:  # atomic: the old file stays whole
            raise storage_error(over_path, exc) from None
    view.request_reload("API")
    return 200, {"result": "ok", "changed": sorted(changes)}


def storage_error(path: str, exc: OSError) -> ApiError:
    """A file of state_dir that cannot be written: 507 for a full disk, 503 for the rest
    (permissions, a read-only file system), naming the path and the fix; nothing changed."""
    if _storage_status(exc.errno) == 507:
        return ApiError(507, f"{path}: cannot write: {exc.strerror}; nothing changed "
                             "(free space there, then send it again)")
    return ApiError(503, f"{path}: cannot write: {exc.strerror or exc}; nothing changed (the "
                         "daemon's user needs to write state_dir: chown it to that user, or set "
                         "state_dir in the config file)")


def _storage_status(number: int | None) -> int:
    return 507 if number in (errno.ENOSPC, errno.EDQUOT) else 503


def _errors_by_key(problems: list[str], changes: dict, over_path: str) -> dict:
    """{key: why} from 'file: key: why' lines.  A sent value's problem is keyed by the key as
    sent, without a file (nothing was written); any other problem (a key not sent, a bad
    value in the config file) by its key, naming the file it stands in."""
    errors: dict[str, str] = {}
    for problem in problems:
        match = re.match(r"^.*?: ([A-Za-z_][\w.\[\]-]*): (.*)$", problem)
        key, why = (match.group(1), match.group(2)) if match else ("(config)", problem)
        root = key.split(".")[0].split("[")[0]
        sent = next((k for k in changes if config.canonical(k) == root), None)
        if sent is not None and problem.startswith(over_path + ": "):
            key = sent
        else:
            why = problem
        errors[key] = f"{errors[key]}; {why}" if key in errors else why
    return errors


def list_devices(view: View, _body, _param) -> tuple[int, object]:
    return 200, [view.device_record(d) for d in view.registry.load()]


def add_device(view: View, body, _param) -> tuple[int, object]:
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object of device fields")
    device = view.registry.add(body)
    return 201, view.device_record(device)


def show_device(view: View, _body, key) -> tuple[int, object]:
    return 200, view.device_record(view.registry.find(key))


def remove_device(view: View, _body, key) -> tuple[int, object]:
    device = view.registry.remove(key)
    return 200, {"result": "ok", "removed": device.id}


def status(view: View, _body, _param) -> tuple[int, object]:
    return 200, view.status()


def openapi(_view, _body, _param) -> tuple[int, object]:
    with open(os.path.join(os.path.dirname(__file__), "openapi.yaml"), encoding="utf-8") as spec:
        return 200, spec.read()


def prometheus(view: View, _body, _param) -> tuple[int, object]:
    return 200, metrics.exposition(view)


# (method, path pattern) -> handler; a pattern's group is the handler's parameter.
ROUTES: dict[tuple[str, str], Callable] = {
    ("GET", CONFIG_PREFIX + "getconfigs"): get_configs,
    ("POST", CONFIG_PREFIX + "getconfigs"): get_configs,
    ("POST", CONFIG_PREFIX + "setconfigs"): set_configs,
    ("GET", "/devices"): list_devices,
    ("POST", "/devices"): add_device,
    ("GET", "/devices/{id}"): show_device,
    ("DELETE", "/devices/{id}"): remove_device,
    ("GET", "/status"): status,
    ("GET", "/metrics"): prometheus,
    ("GET", "/openapi.yaml"): openapi,
}
_PATTERNS = [(method, re.compile("^" + re.sub(r"\{\w+\}", "([^/]+)", path) + "$"), handler)
             for (method, path), handler in ROUTES.items()]
CHANGES = {set_configs, add_device, remove_device}  # what needs a token
TEXT_ROUTES = {prometheus: "text/plain; version=0.0.4; charset=utf-8",
               openapi: "application/yaml; charset=utf-8"}


def route(method: str, path: str) -> tuple[Callable, str | None]:
    """The handler and its parameter; HEAD is served by a path's GET."""
    wanted = "GET" if method == "HEAD" else method
    allowed = []
    for m, pattern, handler in _PATTERNS:
        match = pattern.match(path)
        if match:
            if m == wanted:
                return handler, unquote(match.group(1)) if match.groups() else None
            allowed.append(m)
    if allowed:
        raise ApiError(405, f"{method} is not allowed on {path}; allowed: {', '.join(allowed)}",
                       allow=", ".join(allowed))
    raise ApiError(404, f"no such path {path}; see /openapi.yaml")


try:  # what hmac.compare_digest is, without hmac's load of OpenSSL (3.5 MiB of RSS)
    from _operator import _compare_digest as compare_digest
except ImportError:
    from hmac import compare_digest


class Answer:
    def __init__(self, status: int, body: bytes, content_type: str,
                 headers: dict[str, str] | None = None):
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = headers or {}


def _json(status: int, body: object, headers: dict | None = None) -> Answer:
    return Answer(status, json.dumps(body, ensure_ascii=False).encode("utf-8"),
                  "application/json; charset=utf-8", headers)


def _body(stream):
    """The JSON body (waitress has read it whole, de-chunked, within its limit), None when
    there is none."""
    raw = stream.read(MAX_BODY + 1)
    if not raw:
        return NO_BODY
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"body over the limit of {MAX_BODY} bytes")
    try:
        return limits.loads_json(raw)  # nested past 32 levels: a 400, never a RecursionError
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"body is not JSON: {exc}") from None


def _shown(path: str) -> str:
    """A request path fit for a log line: a device's URL in it has its password and
    query values masked."""
    head, _, key = path.partition("/devices/")
    return f"{head}/devices/{redact_url(unquote(key))}" if key else redact_url(unquote(path))


def _bearer(given: str, token: str) -> bool:
    return bool(token) and given.startswith("Bearer ") and compare_digest(
        given[7:].encode("utf-8"), token.encode("utf-8"))


def serve(view: View, method: str, path: str, authorization: str, body) -> Answer:
    """One API request: authorize, route, read the body (a file), answer.

    With ``api_token`` every request needs it.  Without, reads are open on
    loopback and a change needs the local token (service/token.py), so no
    unprivileged local process can steer the daemon."""
    try:
        if view.cfg.api_token and not _bearer(authorization, view.cfg.api_token):
            raise ApiError(401, "missing or wrong token; send Authorization: Bearer TOKEN",
                           authenticate="Bearer")
        handler, param = route(method, path)
        if handler in CHANGES and not view.cfg.api_token and not _bearer(
                authorization, view.change_token):
            raise ApiError(401, "a change needs the local token; send Authorization: Bearer "
                                "the token in <state_dir>/api-token (readable by root)",
                           authenticate="Bearer")
        status_code, answer = handler(view, _body(body), param)
    except ApiError as exc:
        headers = {}
        if "allow" in exc.extra:
            headers["Allow"] = exc.extra["allow"]
        if "authenticate" in exc.extra:
            headers["WWW-Authenticate"] = exc.extra["authenticate"]
        error = {"result": "error", "error": str(exc)}
        if "errors" in exc.extra:
            error["errors"] = exc.extra["errors"]
        return _json(exc.status, error, headers)
    except NotFound as exc:
        return _json(404, {"result": "error", "error": str(exc)})
    except Conflict as exc:
        return _json(409, {"result": "error", "error": str(exc)})
    except StorageError as exc:  # the registry's: as the overrides' (storage_error)
        return _json(_storage_status(exc.errno), {"result": "error", "error": str(exc)})
    except RegistryError as exc:
        return _json(400, {"result": "error", "error": str(exc)})
    except Exception as exc:  # a bug: say so without details that could leak
        log.error("API %s %s failed: %s", method, _shown(path), type(exc).__name__)
        log.debug("API failure", exc_info=True)
        return _json(500, {"result": "error", "error": "internal error (logged)"})
    finally:
        log.debug("API %s %s", method, _shown(path))
    if handler in TEXT_ROUTES:
        return Answer(status_code, answer.encode("utf-8"), TEXT_ROUTES[handler])
    return _json(status_code, answer)


def app(view: View, environ: dict, start_response) -> list[bytes]:
    """The API as a WSGI app.  The path is the request's own (REQUEST_URI), not
    PATH_INFO, which waitress has URL-decoded: a device's URL-encoded URL holds slashes."""
    method = environ["REQUEST_METHOD"]
    path = environ.get("REQUEST_URI", environ.get("PATH_INFO", "/")).split("?", 1)[0]
    answer = serve(view, method, path, environ.get("HTTP_AUTHORIZATION", ""),
                   environ["wsgi.input"])
    start_response(httpd.status_line(answer.status),
                   [("Content-Type", answer.content_type),
                    ("Content-Length", str(len(answer.body)))] + list(answer.headers.items()))
    return [] if method == "HEAD" else [answer.body]  # HEAD: the GET's headers, no body


def _error_body(status: int, message: str) -> tuple[str, bytes]:
    """The body of waitress's own answers (malformed requests): the API's Error."""
    return ("application/json; charset=utf-8",
            json.dumps({"result": "error", "error": message}).encode("utf-8"))


class ApiServer(httpd.HttpServer):
    """The API on api_host:api_port; OSError when the port cannot be had."""

    def __init__(self, view: View):
        self.view = view
        cfg = view.cfg
        super().__init__(lambda environ, start_response: app(view, environ, start_response),
                         cfg.api_host, cfg.api_port, name="sereport-api", error_body=_error_body,
                         threads=THREADS, connection_limit=CONNECTION_LIMIT,
                         idle_timeout=cfg.api_idle_timeout, max_body=MAX_BODY)

    @property
    def server_port(self) -> int:
        return self.port
