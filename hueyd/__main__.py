"""``python -m hueyd`` runs the command line."""
from hueyd.cli import main

raise SystemExit(main())
