"""Family K: 3-D, graphics and animation (spec §2 K). Each module registers its variants."""

from architectures.three_d import points  # noqa: F401
from architectures.three_d import views  # noqa: F401
from architectures.three_d import lidar  # noqa: F401
from architectures.three_d import motion  # noqa: F401
from architectures.three_d import motion_style  # noqa: F401
from architectures.three_d import meshes  # noqa: F401
from architectures.three_d import reconstruction  # noqa: F401
from architectures.three_d import intrinsic  # noqa: F401
