"""`python -m rememberer_tui` is the `rememberer` command."""

from rememberer_tui.cli import main

main()
