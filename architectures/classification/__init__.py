"""Family B: image-classification CNNs (spec §2 B). Each module registers its variants."""

from architectures.classification import lenet  # noqa: F401

# --- B1 modules (LeNet/AlexNet/VGG/NiN/Inception/plain/simple/regression/NAS) ---

# --- B2 modules (ResNet/WRN/ResNeXt/DenseNet/MobileNet/ShuffleNet/SqueezeNet/EfficientNet) ---
