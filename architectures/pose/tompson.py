"""Heat-map regression ConvNet with a coarse-to-fine refinement (Tompson et al.).

Tompson, Goroshin, Jain, LeCun & Bregler, "Efficient Object Localization Using Convolutional
Networks", CVPR 2015 (§3-4; the heat-map model of Tompson et al. NIPS 2014): a multi-resolution
bank of 5×5 convolutions sees the image at full, ½ and ¼ resolution; the coarser banks are
up-sampled and added to the full-resolution one, and 1×1 convs give one heat map per joint at
stride 4, trained with MSE against Gaussian targets; SpatialDropout drops whole feature maps.
The coarse (x, y) of each joint is the heat map's peak; the refinement module crops the shared
first-layer features around each estimate and regresses a (Δx, Δy) offset that is added to it
(the notes' description; the paper's fine model outputs a fine heat map in the crop, whose
expectation is the same offset). No structural body model.
"""

import keras
from keras import layers, ops

from architectures.pose.common import PoseModel, conv, image_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import pose as pose_task

# One bank: (filters, kernel, pool after) — 5×5 convs as in the paper, a 9×9 conv before fusion.
BANK = ((128, 5, True), (128, 5, True), (128, 5, False), (512, 9, False))
HEAD = (256,)
SCALES = (1, 2, 4)


@keras.saving.register_keras_serializable(package="deepzoo")
class TompsonHeatmapNet(PoseModel):
    def __init__(self, image_size=256, skeleton="stick14", width_scale=1.0, kernel_cap=9, refine_size=None, refine_window=None,
                 spatial_dropout=0.1, sigma=None, name="tompson_heatmap", **kwargs):
        structure = pose_task.get_skeleton(skeleton)
        k = len(structure.joints)
        images, x = image_input(image_size)
        stride = 4
        first_filters = max(4, int(BANK[0][0] * width_scale))
        first_layer = layers.Conv2D(first_filters, min(5, kernel_cap), padding="same", activation="relu", name="bank1_conv1")
        fused, first_features = None, None
        for scale in SCALES:
            h = x if scale == 1 else layers.AveragePooling2D(scale, name=f"pyramid_{scale}")(x)
            for index, (filters, kernel, pool) in enumerate(BANK):
                if index == 0 and scale == 1:
                    h = first_layer(h)
                    first_features = h
                else:
                    h = conv(h, max(4, int(filters * width_scale)), min(kernel, kernel_cap), f"bank{scale}_conv{index + 1}")
                if pool:
                    h = layers.MaxPooling2D(2, name=f"bank{scale}_pool{index + 1}")(h)
            if scale > 1:
                h = layers.UpSampling2D(scale, interpolation="bilinear", name=f"bank{scale}_upsample")(h)
            fused = h if fused is None else layers.Add(name=f"fuse_{scale}")([fused, h])
        fused = layers.SpatialDropout2D(spatial_dropout, name="spatial_dropout")(fused)
        for index, filters in enumerate(HEAD):
            fused = conv(fused, max(4, int(filters * width_scale)), 1, f"head_conv{index + 1}")
        heatmaps = conv(fused, k, 1, "heatmaps", activation=None)
        refine_size = int(refine_size or image_size // 8)
        refine_window = float(refine_window or image_size / 8.0)
        refiner = keras.Sequential(
            [keras.Input((refine_size, refine_size, first_filters)),
             layers.Conv2D(max(4, int(64 * width_scale)), 3, padding="same", activation="relu"),
             layers.Conv2D(max(4, int(64 * width_scale)), 3, padding="same", activation="relu"),
             layers.GlobalAveragePooling2D(), layers.Dense(2)], name="refiner")
        keypoints = Refinement(k, stride, refine_size, refine_window, refiner, name="refinement")([first_features, heatmaps])
        super().__init__(inputs=images, outputs={"keypoints": keypoints, "heatmaps": heatmaps}, name=name, **kwargs)
        self._set_pose_attributes(skeleton, image_size, stride)
        self.sigma = float(sigma or stride)
        self.refine_window = refine_window

    def pose_losses(self, y, y_pred):
        """MSE on the Gaussian heat maps + L2 of the refined coordinates (in crop windows)."""
        heat = pose_task.heatmap_mse(self.heatmap_targets(y, self.sigma), y_pred["heatmaps"])
        visible = y[:, 0, :, 2][..., None]
        error = ((y_pred["keypoints"][:, 0, :, :2] - y[:, 0, :, :2]) / self.refine_window) ** 2 * visible
        return [heat, ops.sum(error) / ops.maximum(ops.sum(visible), 1.0)]


@keras.saving.register_keras_serializable(package="deepzoo")
class Refinement(layers.Layer):
    """Coarse peaks of the heat maps, refined by Δ(x, y) regressed from feature crops around them."""

    def __init__(self, joints, stride, refine_size, refine_window, refiner=None, **kwargs):
        super().__init__(**kwargs)
        self.joints, self.stride, self.refine_size, self.refine_window = int(joints), int(stride), int(refine_size), float(refine_window)
        self.refiner = refiner

    def build(self, input_shape):
        if not self.refiner.built:
            self.refiner.build((None, self.refine_size, self.refine_size, input_shape[0][-1]))

    def call(self, inputs):
        features, heatmaps = inputs
        coarse = ops.stop_gradient(pose_task.decode_heatmaps(heatmaps, self.stride)[:, 0])  # [N, K, 3]
        sizes = ops.ones_like(coarse[..., 0]) * self.refine_window
        crops, _ = pose_task.affine_crop(features, coarse[..., :2], sizes, self.refine_size)
        delta = ops.reshape(self.refiner(crops), (-1, self.joints, 2)) * self.refine_window
        return ops.concatenate([coarse[..., :2] + delta, coarse[..., 2:]], axis=-1)[:, None]

    def get_config(self):
        return {**super().get_config(), "joints": self.joints, "stride": self.stride, "refine_size": self.refine_size,
                "refine_window": self.refine_window, "refiner": keras.saving.serialize_keras_object(self.refiner)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["refiner"] = keras.saving.deserialize_keras_object(config["refiner"])
        return cls(**config)


register(
    ModelSpec(
        name="tompson_heatmap",
        family="pose",
        task="pose",
        builder=TompsonHeatmapNet,
        canonical_config={"image_size": 256, "skeleton": "stick14"},
        tiny_config={"image_size": 32, "skeleton": "stick14", "width_scale": 0.0625, "kernel_cap": 3, "refine_size": 4},
        reference_params=None,
        paper="Tompson, Goroshin, Jain, LeCun & Bregler 2015 (CVPR), Efficient Object Localization Using Convolutional Networks",
        seeds=("003",),
        default_dataset="stick_figures",
        inputs=(TensorSpec("images", (None, None, 3)),),
        outputs=(TensorSpec("keypoints", (1, None, 3)), TensorSpec("heatmaps", (None, None, None))),
        export_endpoint="refined keypoints [N, 1, K, 3] (peak + regressed offset, score = peak value) and the coarse heat maps",
        notes="Three-scale bank (full, ½, ¼) of 5×5 convs fused by up-sampling and addition, stride-4 heat maps, MSE on Gaussian "
        "targets, SpatialDropout. The refinement regresses (Δx, Δy) from first-layer feature crops (the notes' form) where the "
        "paper's fine model predicts a fine heat map per crop; the shared first layer is the coarse-to-fine feature sharing.",
    )
)
