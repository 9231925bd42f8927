"""``python -m sketchychat`` is the ``sketchychat`` command."""

from sketchychat.cli import main

raise SystemExit(main())
