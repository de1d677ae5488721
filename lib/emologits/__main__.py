"""`python -m emologits …` entry point."""
from emologits.cli import main

raise SystemExit(main())
