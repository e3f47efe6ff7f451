"""Family D: object detection (spec §2 D). Each module registers its variants.

    retinanet.py    retinanet (ResNet-FPN, focal loss; task "detection")
    yolo.py         yolo_v1, yolo_v2 (grid detectors)
    ssd.py          ssd (VGG-16 SSD300, default boxes, hard negatives)
    overfeat.py     overfeat (convolutional sliding window), sliding_window_detector
    detectnet.py    detectnet (GoogLeNet coverage + corner maps)

Detection models output raw head tensors and compute their own loss (anchor matching in the graph);
decoding and NMS live in tasks/detection.py (`Detection.export_endpoint`).
"""

from architectures.detection import retinanet  # noqa: F401
from architectures.detection import detectnet, overfeat, ssd, yolo  # noqa: F401
from architectures.detection import rcnn  # noqa: F401  (two-stage detectors)
