"""`deepzoo` sub-commands of this area. `register(subparsers)` adds them; each handler returns an exit code."""


def register(subparsers):
    """Adds this area's sub-commands to the CLI."""
