"""The devices a box reports: ``records`` (a device and its validation),
``registry`` (devices.json), ``monitor`` (probe cycles, hysteresis, the
status file) and ``commands`` (``sereport devices``).  May import probes,
config and the shared helpers."""
