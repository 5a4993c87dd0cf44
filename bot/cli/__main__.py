"""`python -m bot.cli` runs the command line, as the `ecwid-connect` script does."""

from bot.cli.main import main

raise SystemExit(main())
