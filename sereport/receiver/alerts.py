"""Alerts: the history's changes that matter, POSTed as JSON to webhooks.

Events: a box ``down`` (silent past its grace), a box's own ``offline`` beat,
a device going ``offline``, and every recovery (``online`` again).  A box or
device seen for the first time online is no event; first seen offline is.

- **Never blocking the ingest path**: ``submit`` only queues; one thread
  debounces, and each webhook has a thread and a bounded queue of its own, so
  a webhook that is down delays no other.
- **Debounced**: at most one alert per box or device per ``min_gap`` seconds.
  Changes within the gap are held; when it ends, one alert carries the latest
  status and how many changes it sums up (``changes``), even if the status is
  back where the last alert left it (it flapped).
- **Muted** boxes and devices (until a time) send nothing.
- **Retried with backoff** (1, 2, 4, … 32 s; 7 tries) on a refused connection,
  a timeout or a status other than 2xx; then dropped, logged.  A URL is shown
  with its password and query values masked.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Callable

from sereport.redact import redact_url
from sereport.receiver.queries import iso, mask

TRIES = 7
FIRST_BACKOFF = 1.0
TIMEOUT = 5.0
QUEUE_LIMIT = 10000


def event_name(change: dict) -> str | None:
    """The event a change is, or None."""
    what = "device" if change["device_key"] else "box"
    status, previous = change["status"], change["previous"]
    if status == previous:
        return None
    if status == "online":
        return f"{what}.online" if previous is not None else None
    return f"{what}.{status}"  # box.down, box.offline, device.offline


def body(change: dict, changes: int, receiver: str) -> dict:
    """The JSON POSTed (documented in docs/receiver.md)."""
    device = None
    if change["device_key"]:
        device = {"id": change["device_id"], "name": change["device_name"], "ip": change["device_ip"]}
    return {"event": event_name(change) or f"{'device' if device else 'box'}.{change['status']}",
            "status": change["status"], "previous": change["previous"], "at": iso(change["at"]),
            "box": {"id": change["box_id"], "name": change["name"], "licence": mask(change["licence"])},
            "device": device, "changes": changes, "receiver": receiver}


class Webhook:
    """One URL: a queue and a thread that POSTs, retrying with backoff."""

    def __init__(self, url: str, say: Callable[[str], None], stop: threading.Event):
        self.url, self.say, self.stop = url, say, stop
        self.queue: queue.Queue = queue.Queue(QUEUE_LIMIT)
        self.failing = False
        self.thread = threading.Thread(target=self._run, name="sereport-webhook", daemon=True)
        self.thread.start()

    def put(self, payload: dict) -> None:
        try:
            self.queue.put_nowait(payload)
        except queue.Full:
            self.say(f"sereport receive: alert to {redact_url(self.url)} dropped: "
                     f"{QUEUE_LIMIT} alerts already waiting")

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                payload = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            self._deliver(json.dumps(payload, ensure_ascii=False).encode("utf-8"), payload["event"])

    def _deliver(self, data: bytes, event: str) -> None:
        wait = FIRST_BACKOFF
        for attempt in range(1, TRIES + 1):
            reason = self._post(data)
            if reason is None:
                if self.failing:
                    self.say(f"sereport receive: webhook {redact_url(self.url)} answers again")
                self.failing = False
                return
            if not self.failing:
                self.say(f"sereport receive: webhook {redact_url(self.url)}: {reason}; retrying")
                self.failing = True
            if attempt == TRIES or self.stop.wait(wait):
                break
            wait *= 2
        self.say(f"sereport receive: alert {event} to {redact_url(self.url)} dropped after "
                 f"{attempt} tries: {reason}")

    def _post(self, data: bytes) -> str | None:
        request = urllib.request.Request(self.url, data=data, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": "sereport-receiver"})
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=TIMEOUT) as answer:
                answer.read(65536)
                return None
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except urllib.error.URLError as exc:
            reason = exc.reason
            return getattr(reason, "strerror", None) or str(reason)
        except (OSError, socket.timeout) as exc:
            return "no answer within %gs" % TIMEOUT if isinstance(exc, socket.timeout) else str(exc)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 30x is a failure, as for the box's own delivery


class Alerter:
    """Debounces the changes and hands each alert to every webhook."""

    def __init__(self, urls: list[str], min_gap: float, say: Callable[[str], None],
                 receiver: str = ""):
        self.min_gap, self.receiver = min_gap, receiver or socket.gethostname()
        self.stop = threading.Event()
        self.hooks = [Webhook(url, say, self.stop) for url in urls]
        self.inbox: queue.Queue = queue.Queue(QUEUE_LIMIT)
        self.sent: dict[tuple, float] = {}  # key -> when its last alert went
        self.held: dict[tuple, tuple] = {}  # key -> (latest change, changes since the last alert)
        self.say = say
        self.thread = threading.Thread(target=self._run, name="sereport-alerts", daemon=True)
        if self.hooks:
            self.thread.start()

    def submit(self, changes: list[dict]) -> None:
        """Queue the changes (never blocks)."""
        if not self.hooks:
            return
        for change in changes:
            if event_name(change) is None:
                continue
            try:
                self.inbox.put_nowait(change)
            except queue.Full:
                self.say("sereport receive: alerts dropped: too many waiting")
                return

    @staticmethod
    def muted(change: dict, now: float) -> bool:
        return any(until is not None and until > now
                   for until in (change.get("muted_until"), change.get("device_muted_until")))

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                change = self.inbox.get(timeout=0.2)
            except queue.Empty:
                change = None
            now = time.time()
            if change is not None and not self.muted(change, now):
                key = (change["licence"], change["device_key"])
                _, count = self.held.get(key, (None, 0))
                self.held[key] = (change, count + 1)
            for key, (latest, count) in list(self.held.items()):
                if now - self.sent.get(key, 0.0) >= self.min_gap:
                    del self.held[key]
                    self.sent[key] = now
                    payload = body(latest, count, self.receiver)
                    for hook in self.hooks:
                        hook.put(payload)

    def close(self) -> None:
        self.stop.set()
