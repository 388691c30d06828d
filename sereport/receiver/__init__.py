"""``sereport receive``: a heartbeat receiver to watch a fleet with.

A program of its own: it imports nothing of the agent (only the shared
``sereport.httpd``, which serves it with waitress), so it can run far from any box.  ``server`` serves the heartbeats
and the page, ``validate`` checks them against the vendor's spec.
"""
