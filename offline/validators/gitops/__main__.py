"""`python -m offline.validators.gitops`: check environments (see `cli.main`)."""

from .cli import main

raise SystemExit(main())
