"""``sereport run`` as a service: ``daemon`` (the loops, signals, reload),
``notify`` (systemd's protocol), ``api`` (the local HTTP API, a WSGI app
served by waitress through ``sereport.httpd``) and ``metrics`` (/metrics).  May import report and what it
stands on; the API and the metrics see the agent through a ``view.View``,
never the Daemon itself."""
