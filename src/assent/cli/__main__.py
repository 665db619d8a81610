"""`python -m assent.cli`, the same as the `assent` command."""

from . import main

main()
