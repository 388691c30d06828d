from sereport.cli import main

raise SystemExit(main())
