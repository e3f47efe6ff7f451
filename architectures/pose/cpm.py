"""Convolutional Pose Machines.

Wei, Ramakrishna, Kanade & Sheikh, "Convolutional Pose Machines", CVPR 2016 (Fig. 2, §3): a
sequence of T stages, each a multi-class belief-map predictor at stride 8. Stage 1 predicts
P + 1 belief maps (P joints + background) from the image alone; every stage t ≥ 2 concatenates
shared image features x′ (a conv stack of its own), the previous stage's beliefs b_{t−1} and a
Gaussian centre map (the person's centre, the crop centre here), then applies large-kernel
(11×11) convolutions, so that the receptive field grows with t and the later stages learn an
implicit spatial model (a left wrist is where a left elbow suggests). Intermediate supervision:
the loss f = Σ_t Σ_p ‖b_t^p − b_*^p‖² on Gaussian targets is applied at every stage (which also
counters vanishing gradients in the deep sequential model).
"""

import keras
from keras import layers, ops

from architectures.pose.common import PoseModel, conv, image_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import pose as pose_task

# The paper's Figure 2 (the 368 px, stride-8 model of the released code): stage 1 and the shared
# feature stack are 9×9 convs with three 2×2 pools, then the stage heads.
STAGE1 = (("conv", 128, 9), ("pool",), ("conv", 128, 9), ("pool",), ("conv", 128, 9), ("pool",), ("conv", 32, 5), ("conv", 512, 9), ("conv", 512, 1))
FEATURES = (("conv", 128, 9), ("pool",), ("conv", 128, 9), ("pool",), ("conv", 128, 9), ("pool",), ("conv", 32, 5))
STAGE_T = (("conv", 128, 11), ("conv", 128, 11), ("conv", 128, 11), ("conv", 128, 1))


def _stack(x, table, prefix, width_scale, kernel_cap, pools):
    pooled = 0
    for index, row in enumerate(table):
        if row[0] == "pool":
            if pooled < pools:
                x = layers.MaxPooling2D(2, name=f"{prefix}_pool{index}")(x)
                pooled += 1
            continue
        _, filters, kernel = row
        x = conv(x, max(4, int(filters * width_scale)), min(kernel, kernel_cap), f"{prefix}_conv{index}")
    return x


@keras.saving.register_keras_serializable(package="deepzoo")
class ConvolutionalPoseMachine(PoseModel):
    """T-stage CPM on `image_size` inputs with stride 2^pools belief maps (8 in the paper)."""

    def __init__(self, image_size=368, skeleton="stick14", stages=6, pools=3, width_scale=1.0, kernel_cap=11, sigma=None, name="cpm", **kwargs):
        if stages < 1 or pools < 0:
            raise ValueError(f"CPM needs stages >= 1 and pools >= 0. Received: stages={stages}, pools={pools}")
        joints = len(pose_task.get_skeleton(skeleton).joints)
        stride = 2**pools
        images, x = image_input(image_size)
        beliefs = [conv(_stack(x, STAGE1, "stage1", width_scale, kernel_cap, pools), joints + 1, 1, "stage1_beliefs", activation=None)]
        features = _stack(x, FEATURES, "features", width_scale, kernel_cap, pools)
        size = image_size // stride
        centre_map = CentreMap(size, sigma=size / 8.0, name="centre_map")(features)
        for t in range(2, stages + 1):
            h = layers.Concatenate(name=f"stage{t}_concat")([features, beliefs[-1], centre_map])
            h = _stack(h, STAGE_T, f"stage{t}", width_scale, kernel_cap, pools)
            beliefs.append(conv(h, joints + 1, 1, f"stage{t}_beliefs", activation=None))
        stacked = layers.Lambda(lambda b: ops.stack(b, axis=1), name="stage_beliefs")(beliefs)
        heatmaps = layers.Lambda(lambda b: b[..., :joints], name="heatmaps")(beliefs[-1])
        super().__init__(inputs=images, outputs={"heatmaps": heatmaps, "beliefs": stacked}, name=name, **kwargs)
        self._set_pose_attributes(skeleton, image_size, stride)
        self.sigma = float(sigma or stride)

    def stage_losses(self, y, y_pred):
        """One term per stage: Σ_p ‖b_t^p − b_*^p‖² (mean over cells and the batch)."""
        target = self.heatmap_targets(y, self.sigma, background=True)
        beliefs = y_pred["beliefs"]
        return [pose_task.heatmap_mse(target, beliefs[:, t]) for t in range(int(beliefs.shape[1]))]

    def pose_losses(self, y, y_pred):
        return self.stage_losses(y, y_pred)


@keras.saving.register_keras_serializable(package="deepzoo")
class CentreMap(layers.Layer):
    """A Gaussian at the centre of the map (CPM's centre-map input; the person crop is centred)."""

    def __init__(self, size, sigma, **kwargs):
        super().__init__(**kwargs)
        self.size, self.sigma = int(size), float(sigma)

    def call(self, features):
        grid = ops.cast(ops.arange(self.size), "float32") - (self.size - 1) / 2.0
        gaussian = ops.exp(-(grid[:, None] ** 2 + grid[None, :] ** 2) / (2.0 * self.sigma**2))
        return ops.zeros_like(features[..., :1]) + gaussian[None, :, :, None]

    def get_config(self):
        return {**super().get_config(), "size": self.size, "sigma": self.sigma}


register(
    ModelSpec(
        name="cpm",
        family="pose",
        task="pose",
        builder=ConvolutionalPoseMachine,
        canonical_config={"image_size": 368, "skeleton": "stick14", "stages": 6, "pools": 3},
        tiny_config={"image_size": 32, "skeleton": "stick14", "stages": 2, "pools": 2, "width_scale": 0.0625, "kernel_cap": 3},
        reference_params=None,
        paper="Wei, Ramakrishna, Kanade & Sheikh 2016 (CVPR), Convolutional Pose Machines",
        seeds=("003",),
        default_dataset="stick_figures",
        inputs=(TensorSpec("images", (None, None, 3)),),
        outputs=(TensorSpec("keypoints", (1, None, 3)), TensorSpec("heatmaps", (None, None, None))),
        export_endpoint="keypoints [N, 1, K, 3] (arg-max + sub-pixel parabola fit of the last stage's belief maps, in the graph) and the heat maps",
        notes="T = 6 stages, stride 8 on 368 px (46×46 maps) with 11×11 stage kernels as in the paper; P + 1 maps (background "
        "included). The centre map is a fixed Gaussian at the crop centre (the data are person-centred crops). The paper gives no "
        "parameter count.",
    )
)
