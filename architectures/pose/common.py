"""What every pose model of family J shares: the `PoseModel` base (its loss renders the targets from
the keypoints in the graph, see `tasks/pose.py`) and small conv helpers."""

import keras
from keras import layers, ops

from architectures.base import ZooModel
from tasks import pose as pose_task


def conv(x, filters, kernel, name, stride=1, activation="relu"):
    return layers.Conv2D(filters, kernel, strides=stride, padding="same", activation=activation, name=name)(x)


def image_input(image_size, name="images"):
    """The raw-pixel input (0..255) and its rescaled tensor (preprocessing inside the model)."""
    images = keras.Input(shape=(image_size, image_size, 3), name=name)
    return images, layers.Rescaling(1.0 / 255.0, name="rescale")(images)


class PoseModel(ZooModel):
    """A functional pose model trained on keypoints y [N, P, K, 3]; subclasses define
    `pose_losses(y, y_pred)` -> list of scalar terms (summed into the training loss)."""

    multi_person = False

    def _set_pose_attributes(self, skeleton, image_size, stride):
        # Read by the task: the skeleton (flip pairs, sigmas, limbs), the map stride for decoding.
        self.skeleton = skeleton
        self.image_size = int(image_size)
        self.stride = int(stride)

    def pose_losses(self, y, y_pred):
        raise NotImplementedError

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = sum(self.pose_losses(ops.cast(y, "float32"), y_pred))
        return ops.add(total, ops.sum(self.losses)) if self.losses else total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return self.get_metrics_result()

    def heatmap_targets(self, y, sigma, background=False):
        """Gaussian targets [N, h, w, K (+1 background = 1 − max)] at this model's stride."""
        maps = pose_task.render_heatmaps(y, self.image_size, self.image_size, self.stride, sigma)
        if background:
            maps = ops.concatenate([maps, 1.0 - ops.max(maps, axis=-1, keepdims=True)], axis=-1)
        return maps
