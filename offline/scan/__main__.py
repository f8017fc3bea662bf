"""`python -m offline.scan`: write the stacks' rendered objects as files (see `cli.main`)."""

from .cli import main

raise SystemExit(main())
