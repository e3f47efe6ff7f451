"""The architecture zoo: a registry of Keras 3 models, one family per sub-package.

    from architectures import create_model, list_models, get_spec
    model = create_model("resnet18", config="tiny")

Importing this package registers every family (explicit imports below, never disk scanning) and
makes every model class known to `keras.saving`, so `keras.saving.load_model(path)` works in
safe mode.
"""

from architectures.registry import (  # noqa: F401
    CAPABILITIES,
    CHECKS,
    ModelSpec,
    create_model,
    get_spec,
    list_families,
    list_models,
    register,
    resolved_config,
)

# Family packages register their models on import.
from architectures import foundations  # noqa: F401,E402
from architectures import classification  # noqa: F401,E402
from architectures import segmentation  # noqa: F401,E402
from architectures import generative  # noqa: F401,E402
from architectures import detection  # noqa: F401,E402
from architectures import sequence  # noqa: F401,E402
from architectures import metric_learning  # noqa: F401,E402
from architectures import video  # noqa: F401,E402
from architectures import interpretability  # noqa: F401,E402
from architectures import pose  # noqa: F401,E402
from architectures import three_d  # noqa: F401,E402
