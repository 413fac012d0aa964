from vecdash.cli import main

raise SystemExit(main())
