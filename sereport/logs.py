"""Logging to stderr: journald priority prefixes under systemd, timestamps on a terminal."""

from __future__ import annotations

import logging
import os
import sys

LEVELS = ("debug", "info", "warning", "error")
# syslog priorities journald reads from a "<N>" prefix
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4,
             logging.ERROR: 3, logging.CRITICAL: 2}


# C0 controls, DEL and the C1 controls (ESC [ / ESC ] sequences forge or clear lines).
_CONTROL = {c: f"\\x{c:02x}" for c in list(range(0x20)) + list(range(0x7F, 0xA0))}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
# Line and paragraph separators: str.splitlines() (and some log viewers) break lines there.
_CONTROL.update({0x2028: "\\u2028", 0x2029: "\\u2029", 0x85: "\\x85"})


def escape(value: object) -> object:
    """A value fit for one log line: control characters written as escapes."""
    if isinstance(value, str):
        return value.translate(_CONTROL)
    return value


class _EscapeValues(logging.Filter):
    """Every value logged (a record's args) is escaped, so a device name or a
    platform's answer holding a newline or a terminal escape cannot forge or
    split a line.  The message texts are sereport's own."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.args:
            return True
        template = str(record.msg)
        if escape(template) == template:  # a one-line text: escape the whole line once
            record.msg, record.args = escape(record.getMessage()), None
        elif isinstance(record.args, tuple):  # a text of several lines by design
            record.args = tuple(escape(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: escape(v) for k, v in record.args.items()}
        return True


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_PRIORITY.get(record.levelno, 6)}>"
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


def _to_journal(stream) -> bool:
    """True when stream is the journal connection systemd gave us."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


def setup(level: str = "info", stream=None) -> None:
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    if _to_journal(stream):
        handler.setFormatter(_JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(_EscapeValues())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # urllib3 (under delivery's requests) logs URLs, query values and all, even in warnings;
    # delivery says what went wrong in its own words.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
