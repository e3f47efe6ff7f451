"""DeepPose: human pose estimation via deep neural networks.

Toshev & Szegedy, CVPR 2014. Pose estimation as holistic regression: an AlexNet-like network on a
220×220 person crop regresses the 2k joint coordinates, normalised by the crop box
(ŷ = (y − centre)/size), with an L2 loss. A cascade refines it: stage s ≥ 2 crops a sub-image of
side σ·diam(ŷ^{s−1}) around each joint's previous estimate (diam = the distance of opposing torso
joints), resizes it to the network's input size and regresses the displacement of that joint in
the sub-image's normalised frame, y_i^s = y_i^{s−1} + ψ_i(crop_i; θ_s), with separate weights per
stage (§3.2). We train the cascade end to end (the previous estimate is a stop-gradient input to
the next stage, so each stage learns the refinement of its predecessor's errors; the paper trains
the stages one after the other on their predecessors' estimates).
"""

import keras
from keras import layers, ops

from architectures.layers.lrn import LocalResponseNormalization
from architectures.pose.common import PoseModel, image_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import pose as pose_task

# AlexNet (Krizhevsky et al. 2012), the DeepPose backbone: (filters, kernel, stride, LRN, pool).
ALEXNET = ((96, 11, 4, True, True), (256, 5, 1, True, True), (384, 3, 1, False, False), (384, 3, 1, False, False), (256, 3, 1, False, True))
DENSE = (4096, 4096)


def alexnet_regressor(size, outputs, name, width_scale, pool_padding, dropout):
    """An AlexNet-like regressor `[size, size, 3] → outputs` as a Keras model (one per stage)."""
    inputs = keras.Input(shape=(size, size, 3), name=f"{name}_crop")
    x = inputs
    for index, (filters, kernel, stride, lrn, pool) in enumerate(ALEXNET):
        padding = "valid" if index == 0 and pool_padding == "valid" else "same"
        x = layers.Conv2D(max(4, int(filters * width_scale)), kernel, strides=stride, padding=padding, activation="relu", name=f"conv{index + 1}")(x)
        if lrn:
            x = LocalResponseNormalization(name=f"lrn{index + 1}")(x)
        if pool:
            x = layers.MaxPooling2D(3, strides=2, padding=pool_padding, name=f"pool{index + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    for index, units in enumerate(DENSE):
        x = layers.Dense(max(8, int(units * width_scale)), activation="relu", name=f"fc{index + 6}")(x)
        x = layers.Dropout(dropout, name=f"dropout{index + 6}")(x)
    return keras.Model(inputs, layers.Dense(outputs, name="joints")(x), name=name)


@keras.saving.register_keras_serializable(package="deepzoo")
class DeepPose(PoseModel):
    def __init__(self, image_size=220, skeleton="stick14", stages=3, crop_size=None, crop_sigma=1.0, width_scale=1.0, pool_padding="valid",
                 dropout=0.5, name="deeppose", **kwargs):
        if stages < 1:
            raise ValueError(f"DeepPose needs stages >= 1. Received: stages={stages}")
        structure = pose_task.get_skeleton(skeleton)
        k = len(structure.joints)
        crop_size = int(crop_size or image_size)
        images, x = image_input(image_size)
        stage1 = alexnet_regressor(image_size, 2 * k, "stage1", width_scale, pool_padding, dropout)
        # Stage 1: box-normalised coordinates; the crop is the person box (the whole input).
        normalised = layers.Reshape((k, 2), name="stage1_joints")(stage1(x))
        estimate = layers.Lambda(lambda v: (v + 0.5) * float(image_size), name="stage1_pixels")(normalised)
        estimates = [estimate]
        torso = structure.torso
        for s in range(2, stages + 1):
            regressor = alexnet_regressor(crop_size, 2 * k, f"stage{s}", width_scale, pool_padding, dropout)
            estimate = CascadeStage(k, crop_size, crop_sigma, image_size, torso, regressor, name=f"stage{s}_refine")([x, estimate])
            estimates.append(estimate)
        stacked = layers.Lambda(lambda e: ops.stack(e, axis=1), name="stage_joints")(estimates)
        keypoints = layers.Lambda(lambda e: ops.concatenate([e, ops.ones_like(e[..., :1])], axis=-1)[:, None], name="keypoints")(estimates[-1])
        super().__init__(inputs=images, outputs={"keypoints": keypoints, "stages": stacked}, name=name, **kwargs)
        self._set_pose_attributes(skeleton, image_size, 1)

    def stage_errors(self, y, y_pred):
        """Per stage: the mean L2 error (pixels) of visible joints, for the cascade check."""
        visible = y[:, 0, :, 2]
        stages = y_pred["stages"]
        return [ops.sum(ops.sqrt(ops.sum((stages[:, s] - y[:, 0, :, :2]) ** 2, -1) + 1e-9) * visible) / ops.maximum(ops.sum(visible), 1.0)
                for s in range(int(stages.shape[1]))]

    def pose_losses(self, y, y_pred):
        """L2 on box-normalised coordinates (coordinates / crop size), every stage."""
        visible = y[:, 0, :, 2][..., None]
        stages = y_pred["stages"]
        return [ops.sum(((stages[:, s] - y[:, 0, :, :2]) / float(self.image_size)) ** 2 * visible) / ops.maximum(ops.sum(visible), 1.0) * 10.0
                for s in range(int(stages.shape[1]))]


@keras.saving.register_keras_serializable(package="deepzoo")
class CascadeStage(layers.Layer):
    """Stage s ≥ 2: crop around each joint's estimate, regress its displacement, add it."""

    def __init__(self, joints, crop_size, crop_sigma, image_size, torso, regressor=None, **kwargs):
        super().__init__(**kwargs)
        self.joints, self.crop_size, self.crop_sigma, self.image_size, self.torso = int(joints), int(crop_size), float(crop_sigma), int(image_size), tuple(torso)
        self.regressor = regressor

    def build(self, input_shape):
        if not self.regressor.built:
            self.regressor.build((None, self.crop_size, self.crop_size, 3))

    def call(self, inputs):
        images, previous = inputs
        previous = ops.stop_gradient(previous)
        a, b = self.torso
        diameter = ops.sqrt(ops.sum((previous[:, a] - previous[:, b]) ** 2, axis=-1) + 1e-6)
        side = ops.clip(self.crop_sigma * diameter, 0.15 * self.image_size, 1.0 * self.image_size)  # [N]
        sizes = ops.repeat(side[:, None], self.joints, axis=1)
        crops, _ = pose_task.affine_crop(images, previous, sizes, self.crop_size)
        out = ops.reshape(self.regressor(crops), (-1, self.joints, self.joints, 2))
        own = ops.sum(out * ops.eye(self.joints)[None, :, :, None], axis=2)  # joint i's pair from crop i
        return previous + own * sizes[..., None]

    def get_config(self):
        return {**super().get_config(), "joints": self.joints, "crop_size": self.crop_size, "crop_sigma": self.crop_sigma,
                "image_size": self.image_size, "torso": list(self.torso), "regressor": keras.saving.serialize_keras_object(self.regressor)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["regressor"] = keras.saving.deserialize_keras_object(config["regressor"])
        return cls(**config)


register(
    ModelSpec(
        name="deeppose",
        family="pose",
        task="pose",
        builder=DeepPose,
        canonical_config={"image_size": 220, "skeleton": "stick14", "stages": 3},
        tiny_config={"image_size": 32, "skeleton": "stick14", "stages": 2, "crop_size": 12, "width_scale": 0.03, "pool_padding": "same", "dropout": 0.0},
        reference_params=None,
        paper="Toshev & Szegedy 2014 (CVPR), DeepPose: Human Pose Estimation via Deep Neural Networks",
        seeds=("003", "000", "001"),
        default_dataset="stick_figures",
        inputs=(TensorSpec("images", (None, None, 3)),),
        outputs=(TensorSpec("keypoints", (1, None, 3)),),
        export_endpoint="keypoints [N, 1, K, 3] (x, y, 1) pixels after the last cascade stage (the crops are a gather-based "
        "bilinear sampler, one graph)",
        notes="220×220 AlexNet-like regressor with 2k linear outputs, 3 stages with separate weights, each stage ≥ 2 a full "
        "AlexNet on sub-images resized to 220 (crop side σ·diam, σ = 1). The cascade is trained end to end with stop-gradient "
        "between stages (the paper trains stage by stage on simulated predecessor estimates). The paper gives no parameter count.",
    )
)
