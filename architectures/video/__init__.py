"""Family I: video and action recognition (spec §2 I). Each module registers its variants."""

from architectures.video import (
    c3d,  # noqa: F401
    fusion,  # noqa: F401
    inception,  # noqa: F401
    recurrent,  # noqa: F401
    two_stream,  # noqa: F401
)
