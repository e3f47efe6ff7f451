"""CLI area filled by this round's family work."""


def register(subparsers):
    """Adds this area's sub-commands to the CLI (none yet)."""
