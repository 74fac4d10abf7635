"""The commands of the `bounceback` command line, a module for each group of them that
needs the same packages (bounceback/cli.py says which command is where)."""
