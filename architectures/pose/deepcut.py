"""DeepCut: joint subset partition and labelling for multi-person pose estimation.

Pishchulin, Insafutdinov, Tang, Andres, Andriluka, Gehler & Schiele, CVPR 2016. A CNN part detector
proposes body-part candidates D with a probability for every joint class c; an integer linear
program jointly labels the candidates (x_dc), partitions them into people (y_dd′) and suppresses
the rest (implicit NMS), minimising Σ α_dc·x_dc + Σ β_dd′cc′·x_dc·x_d′c′·y_dd′ subject to
uniqueness, consistency and transitivity (`tasks.pose.solve_partition_ilp`, scipy.optimize.milp
with HiGHS instead of Gurobi's branch-and-cut).

Our variant is the paper's dense one ("a dense VGG part detector", fully convolutional): a conv
stack at stride 2^pools gives per-joint probability maps (sigmoid, α_dc = log((1 − p)/p)) and,
per joint, a regression of the offset to its parent joint (DeeperCut's image-conditioned pairwise
terms, Insafutdinov et al. 2016), from which β follows: p_same = exp(−‖d + o_d − d′‖²/2τ²)
between a joint and a candidate of its parent class, β = log((1 − p)/p); same-class pairs in one
person cost `same_class_cost`. The paper's pairwise logistic regression on hand-made geometric
features is replaced by this learned offset (noted in the registry). Scenes with more candidates
than `ilp_max_candidates` use a greedy decoder (spec: "a greedy decoder otherwise").
"""

import keras
import numpy as np
from keras import layers, ops

from architectures.pose.common import PoseModel, conv, image_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import pose as pose_task

# A VGG-style dense part detector: (filters, convs) per block, a 2×2 pool after each of the first
# `pools` blocks.
BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3))


def parent_table(skeleton):
    """parent[c] for every joint (−1 for the root) of a tree skeleton."""
    parents = [-1] * len(skeleton.joints)
    for a, b in skeleton.limbs:
        if parents[b] == -1 and b != skeleton.root:
            parents[b] = a
    return parents


@keras.saving.register_keras_serializable(package="deepzoo")
class DeepCut(PoseModel):
    multi_person = True
    endpoint_outputs = ("heatmaps", "offsets")

    def __init__(self, image_size=224, skeleton="stick14", pools=3, width_scale=1.0, sigma=None, offset_radius=None,
                 peak_threshold=0.3, pair_sigma=None, same_class_cost=2.0, ilp_max_candidates=40, name="deepcut", **kwargs):
        structure = pose_task.get_skeleton(skeleton)
        joints = len(structure.joints)
        images, x = image_input(image_size)
        for block, (filters, count) in enumerate(BLOCKS):
            for index in range(count):
                x = conv(x, max(4, int(filters * width_scale)), 3, f"block{block + 1}_conv{index + 1}")
            if block < pools:
                x = layers.MaxPooling2D(2, name=f"block{block + 1}_pool")(x)
        heat_logits = conv(x, joints, 1, "part_logits", activation=None)
        heatmaps = layers.Activation("sigmoid", name="heatmaps")(heat_logits)
        offsets = conv(x, 2 * joints, 1, "offsets", activation=None)
        super().__init__(inputs=images, outputs={"heatmaps": heatmaps, "offsets": offsets, "part_logits": heat_logits}, name=name, **kwargs)
        self._set_pose_attributes(skeleton, image_size, 2**pools)
        self.sigma = float(sigma or self.stride * 0.75)
        self.offset_radius = float(offset_radius or self.stride * 1.5)
        # p_same falls off with the distance between the parent candidate and where the offset
        # points; both candidates' peaks and the offset each err by 1-3 px at stride 4, so σ =
        # 1.5 strides keeps a true limb above 0.5 (attractive) while another person, a body width
        # away, stays near 0 (σ = 1 stride made some true limbs repulsive and split people).
        self.pair_sigma = float(pair_sigma or self.stride * 1.5)
        self.peak_threshold, self.same_class_cost, self.ilp_max_candidates = float(peak_threshold), float(same_class_cost), int(ilp_max_candidates)

    # --- training -------------------------------------------------------------------------------

    def offset_targets(self, y):
        """[N, h, w, 2K] offset (pixels / image size) from joint c to its parent, on cells within
        `offset_radius` of joint c; and the mask [N, h, w, K]."""
        parents = parent_table(pose_task.get_skeleton(self.skeleton))
        has_parent = np.array([p >= 0 for p in parents], "float32")
        parent_points = ops.take(y, [max(p, 0) for p in parents], axis=2)  # [N, P, K, 3]
        delta = (parent_points[..., :2] - y[..., :2]) / float(self.image_size)
        valid = y[..., 2] * parent_points[..., 2] * has_parent  # [N, P, K]
        size = self.image_size // self.stride
        centres = (ops.cast(ops.arange(size), "float32") + 0.5) * float(self.stride)
        dx = centres[None, None, None, None, :] - y[..., 0][..., None, None]
        dy = centres[None, None, None, :, None] - y[..., 1][..., None, None]
        near = ops.cast(dx**2 + dy**2 <= self.offset_radius**2, "float32") * valid[..., None, None]  # [N, P, K, h, w]
        count = ops.sum(near, axis=1)
        target = ops.sum(near[..., None] * delta[:, :, :, None, None, :], axis=1) / ops.maximum(count, 1.0)[..., None]  # [N, K, h, w, 2]
        target = ops.reshape(ops.transpose(target, (0, 2, 3, 1, 4)), (-1, size, size, 2 * len(parents)))
        mask = ops.transpose(ops.minimum(count, 1.0), (0, 2, 3, 1))
        return target, mask

    def pose_losses(self, y, y_pred):
        """Part detection: sigmoid cross-entropy against the Gaussian targets (soft labels);
        pairwise: L2 on the parent offsets where a joint is."""
        target = self.heatmap_targets(y, self.sigma)
        logits = y_pred["part_logits"]
        detection = ops.mean(ops.sum(ops.maximum(logits, 0.0) - logits * target + ops.log1p(ops.exp(-ops.abs(logits))), axis=-1))
        offset_target, mask = self.offset_targets(y)
        size = self.image_size // self.stride
        error = ops.reshape((y_pred["offsets"] - offset_target) ** 2, (-1, size, size, int(mask.shape[-1]), 2))
        pairwise = ops.sum(ops.sum(error, axis=-1) * mask) / ops.maximum(ops.sum(mask), 1.0) * 100.0
        return [detection, pairwise]

    # --- decoding (numpy): candidates, costs, ILP --------------------------------------------------

    def candidates(self, heatmaps):
        """Part candidates [D, 2] (x, y pixels) and class probabilities [D, K]: each candidate is a
        peak of one class's map and keeps that class (its probability there; the other classes 0,
        so they are not allowed in the ILP). Letting a peak take any class whose map exceeds 0.1 at
        its cell made a shoulder peak next to the neck a neck candidate too: the labelling then had
        spurious alternatives, the ILP grew past its time limit and returned fragmented people."""
        points, probabilities = [], []
        for c in range(heatmaps.shape[-1]):
            for x, y, _ in pose_task.find_peaks(heatmaps[..., c], self.peak_threshold, self.stride):
                row = min(int(y // self.stride), heatmaps.shape[0] - 1)
                col = min(int(x // self.stride), heatmaps.shape[1] - 1)
                points.append((x, y))
                own = np.zeros(heatmaps.shape[-1])
                own[c] = heatmaps[row, col, c]
                probabilities.append(own)
        return np.asarray(points, np.float64).reshape(-1, 2), np.asarray(probabilities, np.float64).reshape(-1, heatmaps.shape[-1])

    def pair_probability(self, offsets, point, parent_point, joint):
        """p(same person) of a joint-`joint` candidate at `point` and a parent candidate."""
        row = min(int(point[1] // self.stride), offsets.shape[0] - 1)
        col = min(int(point[0] // self.stride), offsets.shape[1] - 1)
        expected = point + offsets[row, col, 2 * joint : 2 * joint + 2] * self.image_size
        return float(np.exp(-np.sum((expected - parent_point) ** 2) / (2.0 * self.pair_sigma**2)))

    def costs(self, points, probabilities, offsets):
        """α [D, K] and β {(d, d′, c, c′): cost} of `tasks.pose.solve_partition_ilp`."""
        skeleton = pose_task.get_skeleton(self.skeleton)
        parents = parent_table(skeleton)
        p = np.clip(probabilities, 0.02, 0.98)
        alpha = np.where(probabilities >= 0.1, np.log((1.0 - p) / p), np.inf)
        beta = {}
        for d in range(len(points)):
            for e in range(len(points)):
                if d == e:
                    continue
                for c in np.nonzero(np.isfinite(alpha[d]))[0]:
                    parent = parents[c]
                    if parent >= 0 and np.isfinite(alpha[e, parent]):
                        q = np.clip(self.pair_probability(offsets, points[d], points[e], c), 0.02, 0.98)
                        key = (min(d, e), max(d, e), c if d < e else parent, parent if d < e else c)
                        beta[key] = beta.get(key, 0.0) + float(np.log((1.0 - q) / q))
                    if d < e and np.isfinite(alpha[e, c]):
                        beta[(d, e, c, c)] = self.same_class_cost
        return alpha, beta

    def decode_maps(self, outputs):
        """People [P, K, 3] (x, y, probability) of one image's maps: the ILP for small scenes,
        the greedy limb-by-limb decoder otherwise."""
        heatmaps, offsets = np.asarray(outputs["heatmaps"]), np.asarray(outputs["offsets"])
        points, probabilities = self.candidates(heatmaps)
        skeleton = pose_task.get_skeleton(self.skeleton)
        k = len(skeleton.joints)
        if not len(points):
            return np.zeros((0, k, 3))
        if len(points) <= self.ilp_max_candidates:
            alpha, beta = self.costs(points, probabilities, offsets)
            labels, clusters = pose_task.solve_partition_ilp(alpha, beta)
            people = []
            for cluster in sorted(set(clusters[clusters >= 0])):
                person = np.zeros((k, 3))
                for d in np.nonzero(clusters == cluster)[0]:
                    c = labels[d]
                    if probabilities[d, c] > person[c, 2]:
                        person[c] = (*points[d], probabilities[d, c])
                people.append(person)
            return np.asarray(people).reshape(-1, k, 3)
        return self.greedy_decode(points, probabilities, offsets)

    def greedy_decode(self, points, probabilities, offsets):
        skeleton = pose_task.get_skeleton(self.skeleton)
        labels = np.argmax(probabilities, axis=1)
        peaks = [np.concatenate([points[labels == c], probabilities[labels == c, c][:, None]], axis=1) for c in range(len(skeleton.joints))]

        def weights(limb, cand_a, cand_b):
            parent, child = skeleton.limbs[limb]
            return np.array([[self.pair_probability(offsets, b[:2], a[:2], child) for b in cand_b] for a in cand_a])

        return pose_task.assemble_people(peaks, skeleton, weights, min_score=0.1)


register(
    ModelSpec(
        name="deepcut",
        family="pose",
        task="pose",
        builder=DeepCut,
        canonical_config={"image_size": 224, "skeleton": "stick14", "pools": 3},
        tiny_config={"image_size": 32, "skeleton": "stick14", "pools": 2, "width_scale": 0.0625},
        reference_params=None,
        paper="Pishchulin et al. 2016 (CVPR), DeepCut: Joint Subset Partition and Labeling for Multi Person Pose Estimation",
        seeds=("003",),
        default_dataset="stick_figures_multi",
        inputs=(TensorSpec("images", (None, None, 3)),),
        outputs=(TensorSpec("heatmaps", (None, None, None)), TensorSpec("offsets", (None, None, None))),
        export_endpoint="part probability maps [N, h, w, K] and parent offsets [N, h, w, 2K]; candidates, costs and the ILP "
        "(scipy.optimize.milp) run in `predict`",
        notes="Dense variant: a VGG-style fully convolutional part detector (the paper's dense VGG detector) at stride 8 with "
        "sigmoid part probabilities. Pairwise terms come from regressed offsets to the parent joint (DeeperCut's image-conditioned "
        "pairwise terms) instead of the paper's logistic regression on geometric features. HiGHS (scipy.optimize.milp) stands in "
        "for Gurobi; scenes with more than ilp_max_candidates candidates use a greedy decoder.",
    )
)
