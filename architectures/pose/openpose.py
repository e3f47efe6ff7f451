"""OpenPose: realtime multi-person 2-D pose estimation with part affinity fields.

Cao, Simon, Wei & Sheikh, "Realtime Multi-Person 2D Pose Estimation using Part Affinity Fields",
CVPR 2017 (§2, Fig. 3): bottom-up. Image features F come from the first ten layers of VGG-19
(conv1_1 … conv4_2, fine-tuned) plus two convs (256, 128). Stage 1 has two branches: ρ¹(F) → the
confidence maps S (one per part, plus background) and φ¹(F) → the part affinity fields L (a 2-D
unit-vector field per limb). Every stage t ≥ 2 refines both from the concatenation (F, S^{t−1},
L^{t−1}) with five 7×7 convs and two 1×1 convs per branch. Each stage of each branch carries an
L2 loss (intermediate supervision; the paper masks unannotated people, our synthetic people are
all annotated). Parsing (`tasks.pose.assemble_people`): peaks of S, the PAF line integral (≈ 10
samples) as the weight of every candidate limb, greedy bipartite matching per limb and greedy
merging of people that share a part.
"""

import keras
from keras import layers, ops

from architectures.pose.common import PoseModel, conv, image_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import pose as pose_task

# VGG-19 conv1_1 … conv4_2 (filters; "pool" = 2×2 max-pool), then the two feature convs.
VGG19_FRONT = (64, 64, "pool", 128, 128, "pool", 256, 256, 256, 256, "pool", 512, 512)
FEATURE_CONVS = (256, 128)
STAGE1_BRANCH = ((128, 3), (128, 3), (128, 3), (512, 1))
STAGE_T_BRANCH = ((128, 7), (128, 7), (128, 7), (128, 7), (128, 7), (128, 1))


def _branch(x, table, outputs, prefix, width_scale, kernel_cap, convs=None):
    rows = table if convs is None else table[: convs] + table[-1:]
    for index, (filters, kernel) in enumerate(rows):
        x = conv(x, max(4, int(filters * width_scale)), min(kernel, kernel_cap), f"{prefix}_conv{index + 1}")
    return conv(x, outputs, 1, f"{prefix}_out", activation=None)


@keras.saving.register_keras_serializable(package="deepzoo")
class OpenPose(PoseModel):
    """Two-branch multi-stage CNN: heat maps (K + background) and PAFs (2 per limb)."""

    multi_person = True

    def __init__(self, image_size=368, skeleton="coco18", stages=6, pools=3, width_scale=1.0, kernel_cap=7, sigma=None,
                 limb_width=None, peak_threshold=0.1, front_convs=10, stage_convs=5, name="openpose", **kwargs):
        if stages < 1:
            raise ValueError(f"OpenPose needs stages >= 1. Received: stages={stages}")
        structure = pose_task.get_skeleton(skeleton)
        joints, limbs = len(structure.joints), len(structure.limbs)
        images, x = image_input(image_size)
        pooled, convs = 0, 0
        for index, row in enumerate(VGG19_FRONT):
            if row != "pool" and convs == front_convs:
                break
            if row == "pool":
                if pooled < pools:
                    x = layers.MaxPooling2D(2, name=f"vgg_pool{pooled + 1}")(x)
                    pooled += 1
                continue
            x = conv(x, max(4, int(row * width_scale)), 3, f"vgg_conv{index + 1}")
            convs += 1
        for index, filters in enumerate(FEATURE_CONVS):
            x = conv(x, max(4, int(filters * width_scale)), 3, f"features_conv{index + 1}")
        features = x
        heat_stages = [_branch(features, STAGE1_BRANCH, joints + 1, "stage1_heat", width_scale, kernel_cap)]
        paf_stages = [_branch(features, STAGE1_BRANCH, 2 * limbs, "stage1_paf", width_scale, kernel_cap)]
        for t in range(2, stages + 1):
            h = layers.Concatenate(name=f"stage{t}_concat")([features, heat_stages[-1], paf_stages[-1]])
            heat_stages.append(_branch(h, STAGE_T_BRANCH, joints + 1, f"stage{t}_heat", width_scale, kernel_cap, stage_convs))
            paf_stages.append(_branch(h, STAGE_T_BRANCH, 2 * limbs, f"stage{t}_paf", width_scale, kernel_cap, stage_convs))
        outputs = {
            "heatmaps": layers.Lambda(lambda s: s[..., :joints], name="heatmaps")(heat_stages[-1]),
            "pafs": layers.Identity(name="pafs")(paf_stages[-1]),
            "heat_stages": layers.Lambda(lambda s: ops.stack(s, axis=1), name="heat_stages")(heat_stages),
            "paf_stages": layers.Lambda(lambda s: ops.stack(s, axis=1), name="paf_stages")(paf_stages),
        }
        super().__init__(inputs=images, outputs=outputs, name=name, **kwargs)
        self._set_pose_attributes(skeleton, image_size, 2**pools)
        self.sigma = float(sigma or self.stride * 0.75)
        self.limb_width = float(limb_width or self.stride * 0.75)
        self.peak_threshold = float(peak_threshold)

    def stage_losses(self, y, y_pred):
        """Per stage: f_S + f_L, the L2 distances to the Gaussian and PAF targets."""
        heat_target = self.heatmap_targets(y, self.sigma, background=True)
        limbs = pose_task.get_skeleton(self.skeleton).limbs
        paf_target = pose_task.render_pafs(y, limbs, self.image_size, self.image_size, self.stride, self.limb_width)
        heat, paf = y_pred["heat_stages"], y_pred["paf_stages"]
        return [pose_task.heatmap_mse(heat_target, heat[:, t]) + pose_task.heatmap_mse(paf_target, paf[:, t]) for t in range(int(heat.shape[1]))]

    def pose_losses(self, y, y_pred):
        return self.stage_losses(y, y_pred)


register(
    ModelSpec(
        name="openpose",
        family="pose",
        task="pose",
        builder=OpenPose,
        canonical_config={"image_size": 368, "skeleton": "coco18", "stages": 6, "pools": 3},
        tiny_config={"image_size": 32, "skeleton": "stick14", "stages": 2, "pools": 2, "width_scale": 0.0625, "kernel_cap": 3,
                     "front_convs": 4, "stage_convs": 2},
        reference_params=None,
        paper="Cao, Simon, Wei & Sheikh 2017 (CVPR), Realtime Multi-Person 2D Pose Estimation using Part Affinity Fields",
        seeds=("003",),
        default_dataset="stick_figures_multi",
        inputs=(TensorSpec("images", (None, None, 3)),),
        outputs=(TensorSpec("heatmaps", (None, None, None)), TensorSpec("pafs", (None, None, None))),
        export_endpoint="the last stage's heat maps [N, h, w, K] and PAFs [N, h, w, 2C]; peaks, the PAF line integral, greedy "
        "matching and person assembly run in `predict` (numpy/scipy: a variable number of people is not one graph)",
        notes="CVPR 2017 layout: VGG-19 conv1_1–conv4_2 + 2 convs (128-channel F), 6 stages × 2 branches, COCO-18 (17 COCO "
        "keypoints + neck, spec §9 #62) → 19 heat maps and 38 PAF channels. VGG-19 is trained from scratch here (no "
        "ImageNet weights offline). No person is unannotated in the synthetic data, so the loss mask is all ones.",
    )
)
