"""Family J: human pose estimation (spec §2 J). Each module registers its variants."""
from architectures.pose import cpm  # noqa: F401
from architectures.pose import openpose  # noqa: F401
from architectures.pose import deepcut  # noqa: F401
from architectures.pose import deeppose  # noqa: F401
from architectures.pose import tompson  # noqa: F401
from architectures.pose import alphapose  # noqa: F401
