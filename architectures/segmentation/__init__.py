"""Family E: semantic and instance segmentation (spec §2 E). Each module registers its variants."""

from architectures.segmentation import unet  # noqa: F401
from architectures.segmentation import fcn  # noqa: F401
from architectures.segmentation import baselines  # noqa: F401
from architectures.segmentation import deconvnet_segnet  # noqa: F401
from architectures.segmentation import enet  # noqa: F401
from architectures.segmentation import deeplab  # noqa: F401
from architectures.segmentation import sharpmask  # noqa: F401
from architectures.segmentation import mask_rcnn  # noqa: F401
