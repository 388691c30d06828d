"""``sereport run``: the beat and probe loops, signals, live reload, systemd.

Threads: the probe loop, the beat loop, and the main thread, which only
watches signals and the config file.  SIGHUP, or a change of the config
file (checked every second, and at least once per beat), reloads it: the
new file is validated whole first; a bad one leaves the running config
beating and is logged once per distinct error.  SIGTERM/SIGINT stop the
daemon within 2 s, even mid-request, after an optional last beat that says
the gateway is offline.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

from sereport import __version__, config, lean, sigmask
from sereport.config import handover, origins, overrides
from sereport.report.beat import BeatLoop
from sereport.report.events import EventLoop
from sereport.service.notify import Notifier
from sereport.redact import redact_url
from sereport.report.reporter import Reporter
from sereport.service.view import View

log = logging.getLogger("sereport")
JOIN_TIMEOUT = 0.4  # per loop thread at stop: a POST in flight is abandoned, not awaited
OFFLINE_BEAT_TIMEOUT = 0.8
API_GRACE = 0.5  # seconds the API's answers under way get at a stop (a setconfigs' 200)
SECRET_KEYS = {"dev_sno", "hmac_secret", "http_headers", "devices", "api_token"}
API_KEYS = ("api_enabled", "api_host", "api_port", "api_idle_timeout")


def _signature(cfg: config.Config):
    """Identifies the contents of the config file and the API's overrides file."""
    signature = []
    for path in (cfg.path, cfg.overrides_path):
        try:
            st = os.stat(path)
        except OSError:
            signature.append(None)
        else:
            signature.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(signature)


def changed_keys(old: config.Config, new: config.Config) -> list[str]:
    """Which settings differ, values shown only where they are not secret."""
    shown = []
    for key in old.__dataclass_fields__:
        before, after = getattr(old, key), getattr(new, key)
        if before == after or key in ("overridden", "layers"):  # bookkeeping, not a setting
            continue
        if key in SECRET_KEYS:
            shown.append(key)
        elif key == "urls":
            shown.append(f"WEB_HEART_URL {', '.join(map(redact_url, after))}")
        elif key == "interval":
            shown.append(f"WEB_HEART_TIME {before:g} -> {after:g}")
        else:
            shown.append(f"{key} {before!r} -> {after!r}")
    return shown


def own_command_line() -> list[str]:
    """This process's argv as the kernel has it, interpreter and its flags included
    (sys.orig_argv from Python 3.10; /proc/self/cmdline before)."""
    orig = getattr(sys, "orig_argv", None)
    if orig:
        return list(orig)
    with open("/proc/self/cmdline", "rb") as handle:
        raw = handle.read()
    return [os.fsdecode(arg) for arg in raw.split(b"\0")[:-1]]


class Daemon:
    def __init__(self, cfg: config.Config, notifier: Notifier | None = None,
                 config_error: str = ""):
        self.cfg = cfg
        self.notifier = notifier or Notifier()
        self.reporter = Reporter(cfg)
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.view = View(self.reporter, lambda: self.cfg, self.request_reload)
        self.api = None  # the ApiServer, when api_enabled
        self.listener = None  # hears ONVIF cameras' Hello and Bye, when onvif_listen
        self._reload_asked = ""
        self._again = ""  # why the process is to start again (exec) when the loops have ended
        self._again_cfg = cfg  # the config it starts again with (_start_again sets it)
        self._stop_signal = 0  # the stop signal taken, if any: a stop wins over a start again
        self._exec_armed = False  # _exec_again is past its last look at a stop
        self._signature = _signature(cfg)
        self._config_error = config_error  # the file's problems, while an older config runs
        self._notify_lock = threading.Lock()  # no pet after STOPPING=1
        tick_every = self.notifier.watchdog_interval
        # No device, no probe cycle once a cycle has seen that: a device added nudges one in
        # (run()); a new config wakes the loop to look again (a cycle at the next slot).
        monitor = self.reporter.monitor
        self.probing = BeatLoop(monitor.cycle, cfg.probe_every, self.stop, name="probe cycle",
                                idle=monitor.idle)
        monitor.on_reconfigured = self.probing.interrupt
        self.beating = BeatLoop(self._beat, cfg.interval, self.stop,
                                tick=self._pet if tick_every else None,
                                tick_every=tick_every)
        self.eventing = EventLoop(self.reporter.events, self._event, self.beating.next_slot,
                                  self.stop)

    # --- signals -------------------------------------------------------------

    def install_signals(self) -> None:
        def stop(signum, _frame):
            if not self._stop_signal:  # (not again for the one _exec_armed sends again)
                log.info("%s received: stopping", signal.Signals(signum).name)
            self._stop_signal = signum
            self._again = ""  # a stop wins over a start again under way
            self.stop.set()
            self.wake.set()
            if self._exec_armed:  # too late to call off the exec: the new process stops
                signal.pthread_kill(threading.get_ident(), signum)  # blocked: pending

        def reload(_signum, _frame):
            self.request_reload("SIGHUP")

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)
        sigmask.unblock_stop_signals()  # one pending from before an exec (_exec_again)

    def request_reload(self, why: str) -> None:
        """Reload in the main thread as soon as it wakes (signal handler or API)."""
        self._reload_asked = why
        self.wake.set()

    # --- the loops -----------------------------------------------------------

    def _pet(self) -> None:
        with self._notify_lock:
            if not self.stop.is_set():
                self.notifier.watchdog()

    def _beat(self) -> None:
        self.reporter.beat(self._pet if self.notifier.watchdog_interval else None,
                           self.notifier.watchdog_interval)
        lean.trim()
        with self._notify_lock:
            if not self.stop.is_set() and self.notifier.enabled:
                self.notifier.status(self.reporter.summary())

    def _event(self, next_beat: float) -> None:
        self.reporter.event_report(next_beat)
        with self._notify_lock:
            if not self.stop.is_set() and self.notifier.enabled:
                self.notifier.status(self.reporter.summary())

    def run(self) -> int:
        cfg = self.cfg
        devices = len(self.reporter.registry.devices())
        log.info("sereport %s: %s report(s) every %gs to %d target(s), %d device(s) probed "
                 "every %gs", __version__, "+".join(cfg.formats), cfg.interval, len(cfg.urls),
                 devices, cfg.probe_every)
        self._settle_overrides(cfg)
        if self.stop.is_set():  # a stop signal left pending across a start again (_exec_again)
            return self._shutdown([])
        # Every thread leaves SIGINT, SIGTERM and SIGHUP to the main one (what it starts
        # inherits the mask): a stop is handled at once, not at the main loop's next second.
        blocked = sigmask.stop_signals_blocked
        threads = [threading.Thread(target=self.probing.run, name="probe", daemon=True)]
        with blocked():
            threads[0].start()
            self.reporter.gateway.warm()
            self.reporter.sender.warm(len(cfg.urls) * len(cfg.formats))
        # The first beat waits for the first probe cycle (one probe timeout at most), so a
        # restart does not report every device offline; later beats never wait for probes.
        if devices:
            self._await_first_cycle(time.monotonic() + cfg.probe_timeout + 0.5)
            if self.stop.is_set():  # nothing more starts
                return self._shutdown(threads)
        with blocked():
            self._start_api()
            self._start_listener()
        # READY=1 first: the beat loop's watchdog pets come after it.
        self.notifier.ready(f"started: {len(cfg.urls)} target(s), {devices} device(s)")
        origin = time.monotonic()
        threads.append(threading.Thread(target=self.beating.run, args=(origin,), name="beat",
                                        daemon=True))
        threads.append(threading.Thread(target=self.eventing.run, name="events", daemon=True))
        with blocked():
            for thread in threads[1:]:
                thread.start()
        self._offset_probing(origin)
        while not self.stop.is_set():
            self.wake.wait(min(1.0, self.cfg.interval))
            self.wake.clear()
            if self.stop.is_set():
                break
            if self.reporter.watch_devices():
                self.probing.nudge()  # probe the new device now, not at the next cycle
            asked, self._reload_asked = self._reload_asked, ""
            signature = _signature(self.cfg)
            if asked or signature != self._signature:
                self._signature = signature
                self.reload(asked or "file changed")
        return self._shutdown(threads)

    def _await_first_cycle(self, deadline: float) -> None:
        """Until the first probe cycle ends, the deadline passes or a stop comes; petting
        systemd's watchdog meanwhile (a probe_timeout may be longer than WatchdogSec, and
        the watchdog stays armed through a start again)."""
        first_cycle = self.reporter.monitor.first_cycle
        while not self.stop.is_set():
            if self.notifier.watchdog_interval:
                self._pet()
            left = deadline - time.monotonic()
            if left <= 0 or first_cycle.wait(min(left, 0.25)):
                return

    def _offset_probing(self, beat_origin: float) -> None:
        """Probe cycles half a beat interval after the beats: a cycle's work never competes
        with a beat for the interpreter, and its results are fresh for the next beat."""
        self.probing.align(beat_origin + self.cfg.interval / 2)

    def _start_api(self) -> None:
        cfg = self.cfg
        if not cfg.api_enabled:
            return
        from sereport.service.api import ApiServer
        from sereport.service.token import local_token

        try:
            self.view.change_token = "" if cfg.api_token else local_token(cfg.state_dir)
        except OSError as exc:  # no token, no changes through the API (reads go on)
            self.view.change_token = ""
            log.error("local API: cannot keep its token in %s: %s; changes through the API are "
                      "refused", cfg.state_dir, exc.strerror or exc)
        try:
            self.api = ApiServer(self.view)
        except OSError as exc:
            log.error("local API not started: cannot listen on %s port %d: %s (heartbeats go on)",
                      cfg.api_host, cfg.api_port, exc.strerror or exc)
            return
        self.api.start()
        log.info("local API on %s (description: /openapi.yaml)", self.api.url)

    def _stop_api(self, grace: float = API_GRACE) -> None:
        """The answer under way (to the setconfigs that led here) gets ``grace`` seconds."""
        if self.api is not None:
            self.api.stop(grace)
            self.api = None

    def _start_listener(self) -> None:
        if not self.cfg.onvif_listen:
            return
        from sereport.devices.listen import Listener  # its parser only when it is on

        self.listener = Listener(self.reporter.monitor)
        if not self.listener.start():
            self.listener = None

    def _stop_listener(self) -> None:
        if self.listener is not None:
            self.listener.stop()
            self.listener = None

    def _shutdown(self, threads: list[threading.Thread]) -> int:
        reloading = bool(self._again)
        with self._notify_lock:
            if reloading:
                self.notifier.reloading()
            else:
                self.notifier.stopping()
        self._stop_api(API_GRACE if reloading else 0.0)  # a stop signal waits for none
        self._stop_listener()
        self.probing.interrupt()
        self.beating.interrupt()
        self.eventing.wake()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
        if self._again:  # no offline beat: the same process comes back at once
            self._exec_again()  # returns only if a stop came or the exec failed
            if self._again:  # it failed: the unit's Restart=on-failure starts it afresh
                self.reporter.close()
                self.notifier.stopping()
                self.notifier.close()
                return 1
        if reloading:  # a stop came after RELOADING=1: the usual stop
            self.notifier.stopping()
        if self.cfg.offline_beat_on_stop:
            results = self.reporter.offline_beat(OFFLINE_BEAT_TIMEOUT)
            for r in results:
                log.info("offline beat to %s: %s", r.url, r.reason)
        log.info("stopped after %d beat(s)", self.reporter.beats)
        self.reporter.close()
        self.notifier.close()
        return 0

    # --- reload --------------------------------------------------------------

    def _settle_overrides(self, cfg: config.Config) -> None:
        """Say which keys the API's overrides hold (and which a file edit won over), and
        keep the overrides file to those that hold, each with the file's value it is over."""
        for line in origins.stale_lines(cfg):
            log.warning("%s", line)
        for line in origins.override_lines(cfg):
            log.info("%s", line)
        layers = cfg.layers
        if layers is None or not layers.stale and all(e.under for e in layers.in_force):
            return
        with self.view.config_lock:  # not while the API writes it
            try:
                kept = overrides.recorded(config.read_overrides(layers.overrides_path),
                                          layers.file_values)
                overrides.write(layers.overrides_path, kept)
            except config.ConfigError:
                pass  # changed meanwhile, and broken: the next reload says so
            except OSError as exc:
                log.error("%s: cannot write: %s (stale overrides are ignored all the same)",
                          layers.overrides_path, exc.strerror or exc)
        self._signature = _signature(cfg)

    def _start_again(self, why: str, new: config.Config) -> bool:
        """The new config has an HTTPS target, and this process imported its HTTP stack
        without TLS (it had none: lean.load_http), which cannot be added to it now: end the
        loops (the API's answer under way goes out), then exec this process's own command
        line again (_exec_again): systemd keeps its PID, the new one says READY=1."""
        if self._stop_signal:  # a stop came first: this process ends here
            return False
        log.info("config reloaded (%s): an HTTPS target, and this process loaded no TLS "
                 "(it had no HTTPS target): starting again", why)
        self._again, self._again_cfg = why, new  # new: handed over (config/handover.py)
        self.stop.set()
        return False

    def _exec_again(self) -> None:
        """Exec the command line this process was started with (interpreter flags, script
        or ``-m``, arguments: the same, in the same directory and environment).  The stop
        signals are blocked from the last look at a stop to the exec: a SIGTERM the kernel
        delivers in between stays pending, and one it delivered just before, whose handler
        Python runs only now, is sent again by the handler (``_exec_armed``), pending too.
        The new process unblocks them once its handlers are in, and stops.  systemd's
        watchdog stays armed through the start again: it is petted last.  Returns only when
        there was a stop or the exec failed."""
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        with sigmask.stop_signals_blocked():
            self._exec_armed = True
            handed = None
            try:
                argv = own_command_line()  # a Python call: a handler already due has run
                if self._stop_signal or not self._again:
                    self._again = ""  # a stop: the usual one follows
                    return
                env, handed = handover.give(self._again_cfg)
                if self.notifier.watchdog_interval:
                    self.notifier.watchdog()
                os.execve(sys.executable, argv, env)
            except OSError as exc:
                log.error("cannot start again (%s %s): stopping", sys.executable,
                          exc.strerror or exc)
            finally:
                self._exec_armed = False
                if handed is not None:  # the exec failed
                    os.close(handed)

    def reload(self, why: str) -> bool:
        path = self.cfg.path
        try:
            new = config.load(path)
            config.require_targets(new)
        except config.ConfigError as exc:
            text = "\n".join(exc.problems)
            if text != self._config_error:
                self._config_error = text
                for problem in exc.problems:
                    log.error("config not reloaded (%s): %s", why, problem)
                log.error("the running config stays in force until %s is fixed", path)
            return False
        if self._config_error:
            log.info("%s is valid again", path)
            self._config_error = ""
        if not lean.tls_available() and lean.tls_needed(new.urls):
            return self._start_again(why, new)
        self._settle_overrides(new)
        old = self.cfg
        if new == old:
            if why == "SIGHUP":
                log.info("SIGHUP: %s read again; no value in force changed", path)
            return False
        self.notifier.reloading()
        log.info("config reloaded (%s): %s", why, "; ".join(changed_keys(old, new)))
        self.cfg = new
        self._signature = _signature(new)  # the overrides file may have moved with state_dir
        with sigmask.stop_signals_blocked():  # the threads these start, as in run()
            self.reporter.reconfigure(new)
            if any(getattr(old, k) != getattr(new, k) for k in API_KEYS):
                self._stop_api()
                self._start_api()
            if new.onvif_listen != old.onvif_listen:
                self._stop_listener()
                self._start_listener()
        beat_restarted = (new.interval, new.urls) != (old.interval, old.urls)
        if beat_restarted:
            self.beating.restart(new.interval)
        if new.probe_every != old.probe_every:
            self.probing.restart(new.probe_every)
        if beat_restarted or new.probe_every != old.probe_every:
            # The beat loop takes up its new grid in its own thread: "now" is its origin.
            self._offset_probing(time.monotonic() if beat_restarted else self.beating.origin)
        self.notifier.ready()
        return True
