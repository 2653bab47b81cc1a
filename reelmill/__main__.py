from reelmill.cli import main

raise SystemExit(main())
