"""One report, from readings to the platform: ``payload`` (the vendor's two
documents), ``delivery`` (POSTs with deadlines and retries, with
``requests``), ``beat`` (the monotonic grid) and ``reporter`` (a beat's
work).  May import box, devices, config and the shared helpers."""
