"""Family B: image-classification CNNs (spec §2 B). Each module registers its variants."""

from architectures.classification import lenet  # noqa: F401

# --- B1 modules (LeNet/AlexNet/VGG/NiN/Inception/plain/simple/regression/NAS) ---
from architectures.classification import simple  # noqa: F401, E402
from architectures.classification import alexnet  # noqa: F401, E402
from architectures.classification import vgg  # noqa: F401, E402
from architectures.classification import nin  # noqa: F401, E402
from architectures.classification import googlenet  # noqa: F401, E402
from architectures.classification import inception  # noqa: F401, E402
from architectures.classification import plain  # noqa: F401, E402
from architectures.classification import squeezenet  # noqa: F401, E402
from architectures.classification import squeezenext  # noqa: F401, E402
from architectures.classification import nas  # noqa: F401, E402
from architectures.classification import regression  # noqa: F401, E402

# --- B2 modules (ResNet/WRN/ResNeXt/DenseNet/MobileNet/ShuffleNet/SqueezeNet/EfficientNet) ---
from architectures.classification import resnet  # noqa: F401, E402
from architectures.classification import wide_resnet  # noqa: F401, E402
from architectures.classification import resnext  # noqa: F401, E402
from architectures.classification import densenet  # noqa: F401, E402
from architectures.classification import mobilenet  # noqa: F401, E402
from architectures.classification import shufflenet  # noqa: F401, E402
from architectures.classification import efficientnet  # noqa: F401, E402
