"""Motion-manifold convolutional autoencoder (Holden, Saito & Komura 2016).

Reference: Holden, Saito & Komura, "A deep learning framework for character motion synthesis and
editing", SIGGRAPH 2016, §4 (also Holden, Saito, Komura & Joyce 2015, "Learning motion manifolds
with convolutional autoencoders"). A motion is X ∈ R^{n × d}: n = 240-frame windows of d = 73
degrees of freedom (root-relative joint positions, root velocities, foot contacts).

    encoder  Φ(X) = ReLU(Ψ(X ∗ W₀ + b₀))      dropout 0.25, temporal Conv1D of width 25 with 256
                                               filters, max-pool over 2 frames: code [n/2, 256]
    decoder  Φ†(H) = (Ψ†(H) − b₀) ∗ W̃₀         un-pool to n frames, Conv1D of width 25 back to d

Fidelity notes:
- The paper's decoder reuses the encoder's filters transposed and its bias (tied weights), and its
  un-pooling (Ψ†) places each value at the position the max-pool took it from (the "switches" of
  Zeiler & Fergus) or, as the paper does in practice, spreads it to both frames. We un-pool by
  repeating each code frame twice (`UpSampling1D`) and give the decoder its own Conv1D (untied):
  934,729 parameters at the canonical size instead of 467,529 tied.
- Data are normalised inside the model: `value_range` (from the training split, like the other
  autoencoders) maps to [−1, 1], and the loss is the mean squared error there. The paper
  normalises each DOF by its mean and standard deviation.
- The task is the autoencoder task (tasks/autoencoder.py): the endpoint returns the reconstruction
  (input units) and the code.
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from tasks import TensorSpec

HOLDEN = dict(frames=240, features=73, filters=256, kernel_size=25, pool_size=2, dropout=0.25)


@keras.saving.register_keras_serializable(package="deepzoo")
class MotionAutoencoder(ZooModel):
    """Conv1D motion autoencoder: motion [N, frames, features] -> {"reconstruction", "code"}.

    Args:
        frames: window length n (divisible by pool_size). features: DOF d per frame.
        filters: code channels (256). kernel_size: temporal width (25). pool_size: 2.
        dropout: input dropout at training (0.25).
        value_range: (low, high) of the data, mapped to [−1, 1] inside the model.
    """

    def __init__(self, frames=240, features=73, filters=256, kernel_size=25, pool_size=2, dropout=0.25,
                 value_range=(-1.0, 1.0), name="motion_autoencoder", **kwargs):
        if int(frames) % int(pool_size):
            raise ValueError(f"frames must be divisible by pool_size. Received: frames={frames}, pool_size={pool_size}")
        low, high = (float(v) for v in value_range)
        if not high > low:
            raise ValueError(f"value_range must be (low, high) with high > low. Received: value_range={value_range}")
        self.value_range = (low, high)
        motion = keras.Input(shape=(int(frames), int(features)), name="motion")
        scale, offset = 2.0 / (high - low), -2.0 * low / (high - low) - 1.0
        x = keras.layers.Rescaling(scale, offset, name="normalize")(motion)
        x = keras.layers.Dropout(dropout, name="input_dropout")(x)
        x = keras.layers.Conv1D(filters, kernel_size, padding="same", activation="relu", name="encoder_conv")(x)
        code = keras.layers.MaxPooling1D(pool_size, name="pool")(x)
        x = keras.layers.UpSampling1D(pool_size, name="unpool")(code)
        x = keras.layers.Conv1D(features, kernel_size, padding="same", name="decoder_conv")(x)
        reconstruction = keras.layers.Rescaling(1.0 / scale, -offset / scale, name="denormalize")(x)
        super().__init__(inputs=motion, outputs={"reconstruction": reconstruction, "code": code}, name=name, **kwargs)
        self._scale, self._offset = scale, offset

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean squared reconstruction error in the normalised units ([−1, 1] over value_range)."""
        target = ops.cast(x, "float32") * self._scale + self._offset
        output = ops.cast(y_pred["reconstruction"], "float32") * self._scale + self._offset
        loss = ops.mean(ops.square(output - target))
        return loss + ops.sum(self.losses) if self.losses else loss


def motion_autoencoder_parameter_count(features, filters, kernel_size, **_):
    return (features * kernel_size * filters + filters) + (filters * kernel_size * features + features)


register(
    ModelSpec(
        name="motion_autoencoder",
        family="three_d",
        task="autoencoder",
        builder=MotionAutoencoder,
        canonical_config=HOLDEN,
        tiny_config=dict(frames=32, features=30, filters=16, kernel_size=5, dropout=0.0),  # walk_cycles: 32 × 30
        reference_params=motion_autoencoder_parameter_count(**HOLDEN),
        reference_source="B (Conv1D 73→256 and 256→73 of width 25 with biases, untied; the paper ties them: 467,529)",
        paper="Holden, Saito & Komura 2016, SIGGRAPH (A deep learning framework for character motion synthesis and editing)",
        seeds=("003",),
        default_dataset="walk_cycles",
        train_recipe=dict(optimizer="adam", learning_rate=1e-3, batch_size=32, epochs=30),
        inputs=(TensorSpec("motion", (32, 30), "float32"),),
        outputs=(TensorSpec("reconstruction", (32, 30), "float32"), TensorSpec("code", (16, 16), "float32")),
        export_endpoint="motion float32 [N, frames, features] → reconstruction (same shape, input units) and code [N, frames/2, filters]",
        notes=(
            "Holden et al.'s motion-manifold autoencoder at the paper's size (240 × 73 windows, 256 filters of "
            "width 25, max-pool 2). Decoder untied and un-pooling by repetition (module docstring). Trained here "
            "on synthetic 15-joint stick-figure walk cycles (30 features), not CMU mocap."
        ),
    )
)
