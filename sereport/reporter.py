"""One beat: snapshot the box and its devices, build the documents, send them."""

from __future__ import annotations

import logging

from sereport.config import Config
from sereport.delivery import Result, Sender
from sereport.gateway import Gateway
from sereport.monitor import Monitor
from sereport.payload import documents
from sereport.registry import Registry
from sereport.system import System

log = logging.getLogger(__name__)


class Reporter:
    def __init__(self, cfg: Config, system: System | None = None):
        self.cfg = cfg
        self.registry = Registry(cfg.registry_path, cfg.devices, cfg.path)
        self.monitor = Monitor(cfg, self.registry)
        self.gateway = Gateway(cfg, system)
        self.sender = Sender(cfg.timeouts)
        self.beats = 0
        self._missed: dict[str, int] = {}  # redacted URL -> beats missed in a row

    def documents(self) -> list[tuple[str, dict]]:
        state = self.gateway.collect()
        devices = self.monitor.statuses(self.registry.devices())
        return documents(self.cfg, state, devices)

    def beat(self) -> list[Result]:
        self.beats += 1
        results = self.sender.send(self.cfg.urls, self.documents())
        for result in results:
            self._note(result)
        return results

    def _note(self, r: Result) -> None:
        missed = self._missed.get(r.url)
        if r.ok:
            if missed:
                log.info("%s accepts heartbeats again after %d missed beat(s)", r.url, missed)
            elif missed is None:
                log.info("%s accepted the first %s heartbeat (%s)", r.url, r.format, r.reason)
            else:
                log.debug("beat %d: %s report to %s: %s in %.0f ms",
                          self.beats, r.format, r.url, r.reason, r.elapsed * 1000)
            self._missed[r.url] = 0
        else:
            self._missed[r.url] = (missed or 0) + 1
            log.warning("beat %d: %s report to %s failed: %s", self.beats, r.format, r.url, r.reason)

    def close(self) -> None:
        self.sender.close()
        self.monitor.close()
