from __future__ import annotations

from sereport.cli import main

raise SystemExit(main())
