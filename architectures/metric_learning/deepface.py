"""DeepFace (Taigman, Yang, Ranzato & Wolf 2014, CVPR, "DeepFace: closing the gap to human-level
performance in face verification").

Fig. 2: a 3-D-aligned, frontalised 152×152×3 face → C1 32@11×11 → M2 max-pool 3×3 stride 2 →
C3 16@9×9 → locally connected L4 16@9×9, L5 16@7×7 stride 2, L6 16@5×5 (unshared weights: every
position of an aligned face has its own filters) → F7 4096 → F8 softmax over 4,030 identities
(SFC), dropout on F7 only; ≈120 M parameters, more than 95 % of them in the locally connected and
fully connected layers. Verification (§4) compares the L2-normalised F7 representations.

Here `model(images)` is that normalised F7 (the export endpoint); F8 is the softmax head of the
`EmbeddingNetwork` (`architectures/metric_learning/embedding.py`), used only in training. The
locally connected layer is `architectures.classification.simple.LocallyConnected2D` (Keras 3 has
none): written once, shared with `locally_connected_net`. The 3-D frontalisation is a separate
alignment pipeline that the synthetic identities (frontal, in-plane pose only) do not need.
"""

from architectures.metric_learning.embedding import (
    DEEPFACE,
    DEEPFACE_TINY,
    EmbeddingNetwork,
)
from architectures.registry import ModelSpec, register
from tasks import TensorSpec

register(
    ModelSpec(
        name="deepface",
        family="metric_learning",
        task="metric_learning",
        builder=EmbeddingNetwork,
        canonical_config=dict(
            input_shape=(152, 152, 3), layers=DEEPFACE, embedding_dim=None, objective="softmax", num_classes=4030,
            head_dropout=0.5, recognition="nearest", name="deepface",
        ),
        tiny_config=dict(
            input_shape=(32, 32, 3), layers=DEEPFACE_TINY, embedding_dim=None, objective="softmax", num_classes=8,
            head_dropout=0.5, recognition="nearest", seed=5, name="deepface",
        ),
        reference_params=120_000_000,
        reference_source="P (Taigman et al. 2014, §3: \"more than 120 million parameters\"; by layer 118,923,774)",
        paper="Taigman, Yang, Ranzato & Wolf 2014, CVPR",
        seeds=("004",),
        default_dataset="identities",
        inputs=(TensorSpec("images", (152, 152, 3)),),
        outputs=(TensorSpec("embedding", (4096,)),),
        export_endpoint="the normalised F7 representation: images [N, 152, 152, 3] pixels 0..255 -> embedding [N, 4096]",
        train_recipe=dict(optimizer="momentum", learning_rate=0.01, momentum=0.9, batch_size=128, schedule="plateau", epochs=15),
        notes=(
            "Counted layer by layer the network has 118,923,774 parameters (C1 11,648; C3 41,488; L4 "
            "62,774,800; L5 7,850,000; L6 2,829,456; F7 28,905,472; F8 16,510,910), 0.9 % below the paper's "
            "rounded 120 M. F8 is trained on the training identities (4,030 in the paper); held-out "
            "identities are verified on normalised F7 by d² ≤ τ, τ from the validation ROC. The paper's "
            "3-D alignment and its χ²/Siamese verification heads are not part of the network."
        ),
    )
)
