"""Family D: object detection (spec §2 D). Each module registers its variants.

    retinanet.py    retinanet (ResNet-FPN, focal loss; task "detection")

Detection models output raw head tensors and compute their own loss (anchor matching in the graph);
decoding and NMS live in tasks/detection.py (`Detection.export_endpoint`).
"""

from architectures.detection import retinanet  # noqa: F401
from architectures.detection import rcnn  # noqa: F401  (two-stage detectors)
