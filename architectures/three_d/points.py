"""Point-cloud networks (spec §2 K): PointNet, PointNet++, a point-cloud autoencoder, D2 → MLP.

References:
    pointnet            Qi, Su, Mo & Guibas 2017, "PointNet: deep learning on point sets for 3D
                        classification and segmentation", CVPR.
    pointnet_part_seg   the same paper, Fig. 2's segmentation network: per-point local features (64)
                        ‖ the global feature (1024) ‖ the one-hot object category (the part-segmentation
                        network of §5.1 / supplementary) → shared MLP 512-256-128-128 → part scores.
    pointnet_pp         Qi, Yi, Su & Guibas 2017, "PointNet++: deep hierarchical feature learning on
                        point sets in a metric space", NIPS (single-scale grouping, SSG).
    pointnet_synthesis  Achlioptas, Diamanti, Mitliagkas & Guibas 2018, "Learning representations and
                        generative models for 3D point clouds", ICML (PointNet encoder → code → FC
                        decoder); Fan, Su & Guibas 2017, CVPR (Chamfer and EMD point-set losses).
    descriptor_mlp_3d   Osada, Funkhouser, Chazelle & Dobkin 2002, "Shape distributions", ACM TOG (the
                        D2 histogram of pairwise distances) fed to an MLP, in the spirit of Fang et al.
                        2015, CVPR ("3D deep shape descriptor").

Every network takes raw points [N, P, 3] ("points") and is symmetric in them: shared per-point
layers (Dense on the last axis) and max pooling over the points. The sampling and grouping ops
of PointNet++ (farthest-point sampling, ball query, gathers) are written in keras.ops: the gathers
are one-hot matrix products, which every export runtime has, and farthest-point sampling is a
`fori_loop`.

Point-set distances (spec §4.2) for sets P, Q ⊂ R³:
    Chamfer  d_CD(P, Q) = Σ_p min_q ‖p − q‖² + Σ_q min_p ‖p − q‖²        (per cloud; the loss averages
             over the batch and divides each sum by its set size, as Fan et al.'s code does)
    EMD      d_EMD(P, Q) = min over bijections φ: P → Q of Σ_p ‖p − φ(p)‖ (|P| = |Q|), exact by
             scipy.optimize.linear_sum_assignment (evaluation, small N).
"""

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from tasks import TensorSpec

# Widths of the reference PointNet (Qi et al. 2017, Fig. 2 and the released code).
TNET_MLP = (64, 128, 1024)
TNET_FC = (512, 256)
POINTNET_MLP1 = (64, 64)
POINTNET_MLP2 = (64, 128, 1024)
POINTNET_FC = (512, 256)
# Fig. 2, segmentation network: n × 1088 → shared mlp(512, 256, 128) → shared mlp(128, m).
POINTNET_SEG_MLP = (512, 256, 128, 128)
# PointNet++ SSG classification (the released pointnet2_cls_ssg): (npoint, radius, nsample, mlp);
# npoint None = group all.
POINTNET_PP_SSG = (
    (512, 0.2, 32, (64, 64, 128)),
    (128, 0.4, 64, (128, 128, 256)),
    (None, None, None, (256, 512, 1024)),
)
# Achlioptas et al. 2018 AE: encoder filters, code 128, decoder FC 256, 256, N·3.
AE_ENCODER = (64, 128, 128, 256)
AE_DECODER = (256, 256)
ORTHOGONALITY_WEIGHT = 0.001


# --- reductions -------------------------------------------------------------------------------------------


def max_over(x, axis):
    """max of a 3-D tensor [B, A, C] over axis 1 or 2, or of a 4-D [B, M, K, C] over axis 2, through
    `ops.max_pool`. The gradient of a plain reduce-max divides by the count of maxima, which XLA's
    CPU back end at optimisation level 0 can see as zero (NaN after one step behind BatchNorm);
    max pooling routes the gradient to one argmax and lowers in every runtime."""
    if len(x.shape) == 4:
        k = x.shape[2]
        return ops.squeeze(ops.max_pool(x, (1, k), strides=(1, k)), axis=2)
    if axis == 1:
        a = x.shape[1]
        return ops.reshape(ops.max_pool(x[:, :, None, :], (a, 1), strides=(a, 1)), (-1, x.shape[2]))
    c = x.shape[2]
    return ops.reshape(ops.max_pool(x[..., None], (1, c), strides=(1, c)), (-1, x.shape[1]))


def min_over(x, axis):
    return -max_over(-x, axis)


@keras.saving.register_keras_serializable(package="deepzoo")
class PointMaxPool(keras.layers.Layer):
    """Symmetric aggregation: [B, N, C] → max over the points → [B, C]; [B, M, K, C] → [B, M, C]."""

    def call(self, x):
        return max_over(x, 1 if len(x.shape) == 3 else 2)

    def compute_output_shape(self, s):
        return (s[0], s[2]) if len(s) == 3 else (s[0], s[1], s[3])


# --- point-set distances --------------------------------------------------------------------------------


def pairwise_squared_distances(a, b):
    """‖a_i − b_j‖² [B, N, M] for a [B, N, D] and b [B, M, D] (keras.ops)."""
    a2 = ops.sum(ops.square(a), axis=-1)[:, :, None]
    b2 = ops.sum(ops.square(b), axis=-1)[:, None, :]
    return ops.maximum(a2 + b2 - 2.0 * ops.matmul(a, ops.transpose(b, (0, 2, 1))), 0.0)


def chamfer_distance(p, q):
    """Per-cloud Chamfer distance [B]: mean_p min_q ‖p − q‖² + mean_q min_p ‖p − q‖² (keras.ops)."""
    d = pairwise_squared_distances(p, q)
    return ops.mean(min_over(d, 2), axis=1) + ops.mean(min_over(d, 1), axis=1)


def chamfer_distance_numpy(p, q):
    """The same in numpy for one pair of clouds [N, 3], [M, 3] (the reference in tests)."""
    d = ((p[:, None, :] - q[None, :, :]) ** 2).sum(-1)
    return float(d.min(1).mean() + d.min(0).mean())


def earth_movers_distance(p, q):
    """Exact EMD of two equal-size clouds [N, 3]: the mean ‖p − φ(p)‖ over the optimal bijection φ
    (Hungarian algorithm, scipy.optimize.linear_sum_assignment); O(N³), for evaluation at small N."""
    from scipy.optimize import linear_sum_assignment

    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.shape != q.shape:
        raise ValueError(f"EMD needs two clouds of the same size. Received: {p.shape} and {q.shape}")
    cost = np.sqrt(((p[:, None, :] - q[None, :, :]) ** 2).sum(-1))
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def orthogonality_loss(matrix):
    """‖I − AAᵀ‖²_F per matrix [B] (PointNet's feature-transform regulariser)."""
    k = matrix.shape[-1]
    product = ops.matmul(matrix, ops.transpose(matrix, (0, 2, 1)))
    return ops.sum(ops.square(product - ops.eye(k, dtype=matrix.dtype)[None]), axis=(1, 2))


# --- sampling and grouping (PointNet++) -------------------------------------------------------------------


def farthest_point_sample(xyz, count):
    """Indices [B, count] int32 of iterative farthest-point sampling, starting at point 0 (keras.ops)."""
    xyz = ops.stop_gradient(xyz)
    n = ops.shape(xyz)[1]
    batch = ops.shape(xyz)[0]
    positions = ops.arange(count, dtype="int32")

    def step(i, state):
        indices, distances, last = state
        last_point = ops.sum(ops.one_hot(last, n, dtype=xyz.dtype)[:, :, None] * xyz, axis=1)  # [B, 3]
        distances = ops.minimum(distances, ops.sum(ops.square(xyz - last_point[:, None, :]), axis=-1))
        chosen = ops.cast(ops.top_k(distances, 1)[1][:, 0], "int32")  # argmax; TopK lowers everywhere
        indices = indices + ops.cast(ops.equal(positions, i), "int32")[None, :] * chosen[:, None]
        return indices, distances, chosen

    start = (ops.zeros((batch, count), "int32"), ops.full((batch, n), 1e10, dtype=xyz.dtype), ops.zeros((batch,), "int32"))
    indices, _, _ = ops.fori_loop(1, count, step, start)
    return indices


def ball_query(xyz, centroids, radius, count):
    """Indices [B, M, count] of the first `count` points (in index order) within `radius` of each
    centroid, padded with the first one found (as the reference CUDA op; the centroid itself is a
    point of the cloud, so one is always found)."""
    n = xyz.shape[1] or ops.shape(xyz)[1]
    d = pairwise_squared_distances(ops.stop_gradient(centroids), ops.stop_gradient(xyz))  # [B, M, N]
    order = ops.cast(ops.arange(n), d.dtype)[None, None, :]
    key = ops.where(d <= radius * radius, order, ops.cast(n, d.dtype))
    smallest = -ops.top_k(-key, count, sorted=True)[0]  # ascending indices, n where none
    first = smallest[:, :, :1]
    return ops.cast(ops.where(smallest >= ops.cast(n, d.dtype), first, smallest), "int32")


def gather_points(values, indices):
    """values [B, N, C] at indices [B, ...] → [B, ..., C] as a one-hot product (export-friendly)."""
    n = values.shape[1]
    flat = ops.reshape(indices, (ops.shape(indices)[0], -1))
    picked = ops.matmul(ops.one_hot(flat, n, dtype=values.dtype), values)
    return ops.reshape(picked, (*[ops.shape(indices)[i] for i in range(len(indices.shape))], values.shape[-1]))


def farthest_point_sample_numpy(xyz, count):
    """Reference FPS in numpy for one cloud [N, 3]."""
    chosen = [0]
    distances = np.full(len(xyz), np.inf)
    for _ in range(1, count):
        distances = np.minimum(distances, ((xyz - xyz[chosen[-1]]) ** 2).sum(-1))
        chosen.append(int(np.argmax(distances)))
    return np.asarray(chosen)


def ball_query_numpy(xyz, centroids, radius, count):
    """Reference ball query in numpy for one cloud: [M, count] indices."""
    out = []
    for c in centroids:
        found = np.nonzero(((xyz - c) ** 2).sum(-1) <= radius * radius)[0][:count]
        out.append(np.concatenate([found, np.full(count - len(found), found[0])]))
    return np.asarray(out)


# --- layers ------------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class CheckPoints(keras.layers.Layer):
    """Passes points [B, N, 3] through; NaN or infinite coordinates raise (eagerly) a ValueError."""

    def call(self, points):
        if not isinstance(points, keras.KerasTensor) and ops.is_tensor(points):
            try:
                finite = bool(np.all(np.isfinite(np.asarray(points))))
            except Exception:  # symbolic (traced) tensor: the check runs on eager calls only
                finite = True
            if not finite:
                raise ValueError("Point coordinates must be finite. Received: NaN or infinite values")
        return points


@keras.saving.register_keras_serializable(package="deepzoo")
class ApplyTransform(keras.layers.Layer):
    """(points [B, N, k], transform [B, k·k]) → points @ transform; the transform's orthogonality
    regulariser w·‖I − AAᵀ‖²_F (batch mean) is added with `add_loss` when w > 0."""

    def __init__(self, weight=0.0, **kwargs):
        super().__init__(**kwargs)
        self.weight = float(weight)

    def call(self, inputs):
        points, flat = inputs
        k = points.shape[-1]
        matrix = ops.reshape(flat, (-1, k, k))
        if self.weight:
            self.add_loss(self.weight * ops.mean(orthogonality_loss(matrix)))
        return ops.matmul(points, matrix)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


@keras.saving.register_keras_serializable(package="deepzoo")
class BroadcastToPoints(keras.layers.Layer):
    """(per-point features [B, N, c], vector [B, C]) → the vector at every point [B, N, C] (a
    broadcasting add: every runtime has it, no Tile with a dynamic multiple)."""

    def call(self, inputs):
        per_point, vector = inputs
        return ops.zeros_like(per_point[..., :1]) + ops.cast(vector, per_point.dtype)[:, None, :]

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], input_shapes[0][1], input_shapes[1][-1])


@keras.saving.register_keras_serializable(package="deepzoo")
class SampleAndGroup(keras.layers.Layer):
    """PointNet++ grouping: (xyz [B, N, 3], features [B, N, C] or None) → (centroids [B, M, 3],
    groups [B, M, K, 3 + C] with coordinates relative to their centroid). npoint None groups all."""

    def __init__(self, npoint=None, radius=None, nsample=None, **kwargs):
        super().__init__(**kwargs)
        self.npoint, self.radius, self.nsample = npoint, radius, nsample

    def call(self, xyz, features=None):
        if self.npoint is None:
            centroids = ops.zeros_like(xyz[:, :1, :])
            grouped = xyz[:, None, :, :]
            parts = [grouped] + ([features[:, None, :, :]] if features is not None else [])
            return centroids, ops.concatenate(parts, axis=-1)
        centroids = gather_points(xyz, farthest_point_sample(xyz, self.npoint))
        neighbours = ball_query(xyz, centroids, self.radius, self.nsample)
        grouped = gather_points(xyz, neighbours) - centroids[:, :, None, :]
        parts = [grouped] + ([gather_points(features, neighbours)] if features is not None else [])
        return centroids, ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, xyz_shape, features_shape=None):
        channels = 3 + (features_shape[-1] if features_shape is not None else 0)
        if self.npoint is None:
            return (xyz_shape[0], 1, 3), (xyz_shape[0], 1, xyz_shape[1], channels)
        return (xyz_shape[0], self.npoint, 3), (xyz_shape[0], self.npoint, self.nsample, channels)

    def get_config(self):
        return {**super().get_config(), "npoint": self.npoint, "radius": self.radius, "nsample": self.nsample}


@keras.saving.register_keras_serializable(package="deepzoo")
class D2Histogram(keras.layers.Layer):
    """Osada et al.'s D2 shape distribution of points [B, N, 3]: the histogram [B, bins] of all
    pairwise distances divided by their mean (scale-invariant), over [0, max_ratio)."""

    def __init__(self, bins=64, max_ratio=3.0, **kwargs):
        super().__init__(**kwargs)
        self.bins, self.max_ratio = int(bins), float(max_ratio)

    def call(self, points):
        n = points.shape[1]
        d = ops.sqrt(pairwise_squared_distances(points, points) + 1e-12)
        upper = ops.cast(ops.triu(ops.ones((n, n)), k=1), d.dtype)[None]
        mean = ops.sum(d * upper, axis=(1, 2), keepdims=True) / ops.sum(upper)
        index = ops.clip(ops.floor(d / mean / self.max_ratio * self.bins), 0, self.bins - 1)
        # One masked count per bin: memory O(N²) (a one-hot over bins would need O(N²·bins)).
        counts = [ops.sum(upper * ops.cast(ops.equal(index, float(k)), d.dtype), axis=(1, 2)) for k in range(self.bins)]
        return ops.stack(counts, axis=1) / ops.sum(upper)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.bins)

    def get_config(self):
        return {**super().get_config(), "bins": self.bins, "max_ratio": self.max_ratio}


def d2_histogram_numpy(points, bins=64, max_ratio=3.0):
    """The D2 histogram of one cloud [N, 3] in numpy (reference)."""
    d = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))[np.triu_indices(len(points), 1)]
    index = np.clip(np.floor(d / d.mean() / max_ratio * bins), 0, bins - 1).astype(int)
    return np.bincount(index, minlength=bins) / len(d)


# --- blocks ------------------------------------------------------------------------------------------------


def _shared_mlp(x, widths, name, batch_norm=True):
    """Per-point Dense + BN + ReLU layers (a Conv1D of kernel 1 in the papers)."""
    for index, width in enumerate(widths):
        x = keras.layers.Dense(width, name=f"{name}{index + 1}")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3, name=f"{name}{index + 1}_bn")(x)
        x = keras.layers.ReLU(name=f"{name}{index + 1}_relu")(x)
    return x


def _fc(x, widths, name, dropout=0.0):
    for index, width in enumerate(widths):
        x = keras.layers.Dense(width, name=f"{name}{index + 1}")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3, name=f"{name}{index + 1}_bn")(x)
        x = keras.layers.ReLU(name=f"{name}{index + 1}_relu")(x)
        if dropout and index == len(widths) - 1:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def _tnet(points, k, mlp, fc, name):
    """T-Net(k): shared MLP → max-pool → FC → k² outputs initialised to the flattened identity."""
    x = _shared_mlp(points, mlp, f"{name}_mlp")
    x = PointMaxPool(name=f"{name}_pool")(x)
    x = _fc(x, fc, f"{name}_fc")
    return keras.layers.Dense(
        k * k, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(np.eye(k).reshape(-1).tolist()), name=f"{name}_matrix"
    )(x)


def _points_input(input_shape):
    if len(tuple(input_shape)) != 2 or int(input_shape[-1]) != 3:
        raise ValueError(f"input_shape must be (num_points, 3). Received: input_shape={tuple(input_shape)}")
    inputs = keras.Input(tuple(int(d) for d in input_shape), name="points")
    return inputs, CheckPoints(name="check_points")(inputs)


# --- models ------------------------------------------------------------------------------------------------


def _pointnet_trunk(x, mlp1, mlp2, tnet_mlp, tnet_fc, input_transform, feature_transform, orthogonality_weight):
    """PointNet up to its global feature, shared by classification and segmentation: returns the
    per-point local feature (after the feature transform) and the max-pooled global feature."""
    if input_transform:
        x = ApplyTransform(name="input_transform")([x, _tnet(x, 3, tnet_mlp, tnet_fc, "tnet3")])
    x = _shared_mlp(x, mlp1, "mlp1_")
    if feature_transform:
        k = int(mlp1[-1])
        x = ApplyTransform(orthogonality_weight, name="feature_transform")([x, _tnet(x, k, tnet_mlp, tnet_fc, f"tnet{k}")])
    return x, PointMaxPool(name="global_feature")(_shared_mlp(x, mlp2, "mlp2_"))


@keras.saving.register_keras_serializable(package="deepzoo")
class PointNet(ZooModel):
    """PointNet classification: [input T-Net] → shared MLP1 → [feature T-Net + regulariser] →
    shared MLP2 → max-pool → FC → softmax.

    Args:
        input_shape: (num_points, 3).
        num_classes: K.
        mlp1, mlp2, fc: widths (Qi et al.: (64, 64), (64, 128, 1024), (512, 256)).
        tnet_mlp, tnet_fc: T-Net widths ((64, 128, 1024), (512, 256)).
        input_transform, feature_transform: use the T-Nets (False, False = the vanilla PointNet).
        orthogonality_weight: weight of ‖I − AAᵀ‖²_F on the feature transform (0.001).
        dropout: before the classifier (keep 0.7 → 0.3).
    """

    def __init__(
        self,
        input_shape=(1024, 3),
        num_classes=40,
        mlp1=POINTNET_MLP1,
        mlp2=POINTNET_MLP2,
        fc=POINTNET_FC,
        tnet_mlp=TNET_MLP,
        tnet_fc=TNET_FC,
        input_transform=True,
        feature_transform=True,
        orthogonality_weight=ORTHOGONALITY_WEIGHT,
        dropout=0.3,
        name="pointnet",
        **kwargs,
    ):
        inputs, x = _points_input(input_shape)
        _, x = _pointnet_trunk(x, mlp1, mlp2, tnet_mlp, tnet_fc, input_transform, feature_transform, orthogonality_weight)
        x = _fc(x, fc, "fc", dropout)
        outputs = keras.layers.Dense(int(num_classes), activation="softmax", name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class PointNetPartSegmentation(ZooModel):
    """PointNet segmentation (Qi et al. 2017, Fig. 2, bottom): the classification network up to its
    global feature, then per point: the 64-d local feature after the feature transform ‖ the 1024-d
    global feature ‖ the object's one-hot category (the part-segmentation network, §5.1) → shared MLP
    (512, 256, 128, 128) → per-point part scores (softmax). Every per-point layer is shared and the
    global feature is a max over the points, so the output permutes with the input points.

    Inputs: {"points": [B, N, 3], "category": [B, C] one-hot} (just "points" when num_categories = 0).

    Args:
        num_points: N (fixed: the max-pool over the points is a pooling window of that size).
        num_categories: C object categories (16 in ShapeNet-Part); 0 = no category input.
        num_classes: m part labels over all categories (50 in ShapeNet-Part).
        mlp1, mlp2, tnet_mlp, tnet_fc: the classification network's widths.
        seg_mlp: the segmentation head's shared MLP ((512, 256, 128, 128)).
        dropout: before the last layer (0: the figure has none).
    """

    def __init__(
        self,
        num_points=2048,
        num_categories=16,
        num_classes=50,
        mlp1=POINTNET_MLP1,
        mlp2=POINTNET_MLP2,
        seg_mlp=POINTNET_SEG_MLP,
        tnet_mlp=TNET_MLP,
        tnet_fc=TNET_FC,
        input_transform=True,
        feature_transform=True,
        orthogonality_weight=ORTHOGONALITY_WEIGHT,
        dropout=0.0,
        name="pointnet_part_seg",
        **kwargs,
    ):
        points, x = _points_input((int(num_points), 3))
        local, global_feature = _pointnet_trunk(x, mlp1, mlp2, tnet_mlp, tnet_fc, input_transform, feature_transform, orthogonality_weight)
        per_point = [local, BroadcastToPoints(name="global_at_points")([local, global_feature])]
        inputs = points
        if num_categories:
            category = keras.Input((int(num_categories),), name="category")
            per_point.append(BroadcastToPoints(name="category_at_points")([local, category]))
            inputs = {"points": points, "category": category}
        x = keras.layers.Concatenate(name="point_features")(per_point)
        x = _shared_mlp(x, seg_mlp, "seg_mlp")
        if dropout:
            x = keras.layers.Dropout(dropout, name="seg_dropout")(x)
        outputs = keras.layers.Dense(int(num_classes), activation="softmax", name="part_scores")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


def part_segmentation_example_batch(config, seed, n=8):
    """The sweep's batch: every part label has its own region of space, so a few steps of per-point
    layers lower the loss; categories are random one-hots."""
    rng = np.random.default_rng(seed)
    points, categories, parts = int(config.get("num_points", 2048)), int(config.get("num_categories", 16)), int(config.get("num_classes", 50))
    centres = rng.uniform(-0.7, 0.7, size=(parts, 3))
    labels = rng.integers(0, parts, size=(n, points)).astype("int32")
    x = (centres[labels] + rng.normal(0.0, 0.1, size=(n, points, 3))).astype("float32")
    if categories:
        x = {"points": x, "category": np.eye(categories, dtype="float32")[rng.integers(0, categories, n)]}
    return x, labels


@keras.saving.register_keras_serializable(package="deepzoo")
class PointNetPlusPlus(ZooModel):
    """PointNet++ SSG classification: set-abstraction levels (FPS → ball query → mini-PointNet with
    max-pool over each group), the last grouping all points, then FC → softmax.

    Args:
        input_shape: (num_points, 3).
        num_classes: K.
        levels: ((npoint, radius, nsample, mlp widths), ...); npoint None = group all.
        fc: classifier widths (512, 256), dropout 0.5 after each in the released code.
    """

    def __init__(self, input_shape=(1024, 3), num_classes=40, levels=POINTNET_PP_SSG, fc=(512, 256), dropout=0.5, name="pointnet_pp", **kwargs):
        inputs, xyz = _points_input(input_shape)
        features = None
        for index, (npoint, radius, nsample, mlp) in enumerate(levels):
            xyz, groups = SampleAndGroup(npoint, radius, nsample, name=f"sa{index + 1}_group")(xyz, features)
            groups = _shared_mlp(groups, mlp, f"sa{index + 1}_mlp")
            features = PointMaxPool(name=f"sa{index + 1}_pool")(groups)
        x = keras.layers.Flatten(name="global_feature")(features) if levels[-1][0] is None else PointMaxPool(name="global_feature")(features)
        for index, width in enumerate(fc):
            x = _fc(x, (width,), f"fc{index + 1}_", dropout)
        outputs = keras.layers.Dense(int(num_classes), activation="softmax", name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class D2MLP(ZooModel):
    """Shape-descriptor network: points → D2 histogram (deterministic, inside the model) → MLP → softmax."""

    def __init__(self, input_shape=(1024, 3), num_classes=40, bins=64, max_ratio=3.0, hidden=(256, 128), dropout=0.3, name="descriptor_mlp_3d", **kwargs):
        inputs, x = _points_input(input_shape)
        x = D2Histogram(bins, max_ratio, name="d2_histogram")(x)
        x = keras.layers.Rescaling(float(bins), name="density")(x)  # histogram mass → density per bin
        for index, width in enumerate(hidden):
            x = keras.layers.Dense(width, activation="relu", name=f"fc{index + 1}")(x)
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"fc{index + 1}_dropout")(x)
        outputs = keras.layers.Dense(int(num_classes), activation="softmax", name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class PointCloudAutoencoder(ZooModel):
    """Achlioptas et al.'s point-cloud autoencoder: PointNet encoder (shared MLP, max-pool) → code →
    FC decoder → N·3 points. `model(points)` → {"reconstruction": [N, P, 3], "code": [N, k]};
    `model.decode(codes)` maps codes (or noise) to points. Trained with its own `train_step` on
    the Chamfer distance.

    Args:
        input_shape: (num_points, 3); the decoder outputs as many points.
        encoder: shared-MLP widths before the code layer; code_size: k (128).
        decoder: FC widths (256, 256).
        value_range: the data's coordinate range (the autoencoder task's convention).
    """

    def __init__(self, input_shape=(2048, 3), encoder=AE_ENCODER, code_size=128, decoder=AE_DECODER, value_range=(-1.0, 1.0), name="pointnet_synthesis", **kwargs):
        inputs, x = _points_input(input_shape)
        num_points = int(input_shape[0])
        x = _shared_mlp(x, encoder, "enc")
        x = keras.layers.Dense(int(code_size), name="enc_code")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3, name="enc_code_bn")(x)
        x = keras.layers.ReLU(name="enc_code_relu")(x)
        code = PointMaxPool(name="code")(x)
        code_input = keras.Input((int(code_size),), name="code")
        y = code_input
        for index, width in enumerate(decoder):
            y = keras.layers.Dense(width, activation="relu", name=f"dec{index + 1}")(y)
        y = keras.layers.Dense(num_points * 3, name="dec_points")(y)
        y = keras.layers.Reshape((num_points, 3), name="dec_reshape")(y)
        self_decoder = keras.Model(code_input, y, name="decoder")
        outputs = {"reconstruction": self_decoder(code), "code": code}
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.decoder = self_decoder
        self.value_range = tuple(float(v) for v in value_range)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def decode(self, codes):
        return self.decoder(codes, training=False)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        super().compile(optimizer=optimizer, **kwargs)

    def _objective(self, data, training):
        points = data[0] if isinstance(data, (tuple, list)) else data
        points = ops.cast(points, self.compute_dtype)
        outputs = self(points, training=training)
        return ops.mean(chamfer_distance(points, outputs["reconstruction"]))

    def train_step(self, data):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = self._objective(data, True)
        self.optimizer.apply_gradients(zip(tape.gradient(loss, self.trainable_variables), self.trainable_variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        self.loss_tracker.update_state(self._objective(data, False))
        return {"loss": self.loss_tracker.result()}


# --- registry ----------------------------------------------------------------------------------------------

_POINTS_IN = (TensorSpec("points", (None, 3)),)
_CLASSES_OUT = (TensorSpec("output", (None,)),)
_TINY_POINTS = (64, 3)
# Fig. 2 segmentation network at 2,048 points, 16 categories, 50 parts (the count is derived layer by layer
# in tests/test_three_d_shapes.py).
POINTNET_PART_SEG_PARAMS = 3_579_771

register(
    ModelSpec(
        name="pointnet",
        family="three_d",
        task="classification",
        builder=PointNet,
        canonical_config=dict(input_shape=(1024, 3), num_classes=40),
        tiny_config=dict(
            input_shape=_TINY_POINTS, num_classes=6, mlp1=(8,), mlp2=(16,), fc=(16,), tnet_mlp=(8,), tnet_fc=(8,), dropout=0.0
        ),
        reference_params=3_492_209,
        reference_source="B (spec: faithful Keras build, BN statistics included)",
        paper="Qi, Su, Mo & Guibas 2017, CVPR (arXiv 1612.00593)",
        seeds=("003",),
        default_dataset="primitives",
        inputs=_POINTS_IN,
        outputs=_CLASSES_OUT,
        train_recipe=dict(optimizer="adam", learning_rate=1e-3, batch_size=32, epochs=250),
        notes=(
            "Classification network with both T-Nets; the orthogonality regulariser 0.001·‖I − AAᵀ‖²_F is on the 64×64 "
            "feature transform (as in the paper and its code); the 3×3 input transform is unregularised. Shared MLPs are "
            "Dense layers on the last axis (= Conv1D kernel 1). input_transform=False, feature_transform=False gives the "
            "vanilla PointNet. The segmentation network of Fig. 2 is the pointnet_part_seg row."
        ),
    )
)

register(
    ModelSpec(
        name="pointnet_part_seg",
        family="three_d",
        task="segmentation",
        builder=PointNetPartSegmentation,
        canonical_config=dict(num_points=2048, num_categories=16, num_classes=50),
        tiny_config=dict(
            num_points=64, num_categories=4, num_classes=10, mlp1=(8,), mlp2=(16,), seg_mlp=(16,), tnet_mlp=(8,), tnet_fc=(8,)
        ),
        reference_params=POINTNET_PART_SEG_PARAMS,
        reference_source="B (Fig. 2's segmentation network with both T-Nets and the 16-way category one-hot, 2,048 points, 50 parts; BN statistics included)",
        paper="Qi, Su, Mo & Guibas 2017, CVPR (arXiv 1612.00593), Fig. 2 segmentation network",
        seeds=("003",),
        default_dataset="part_primitives",
        example_batch=part_segmentation_example_batch,
        inputs=(TensorSpec("points", (None, 3)), TensorSpec("category", (None,))),
        outputs=(TensorSpec("probabilities", (None, None)), TensorSpec("class_map", (None,), "int32")),
        train_recipe=dict(optimizer="adam", learning_rate=1e-3, batch_size=32, epochs=200),
        notes=(
            "Fig. 2's segmentation network: local 64-d features (after the feature transform) ‖ the 1024-d global "
            "feature ‖ the one-hot object category, broadcast to every point → shared MLP 512-256-128-128 → m part "
            "scores. The released part-segmentation code is a larger variant (skip links from every layer, a 2048-d "
            "global feature, 3,024-d per point); this row builds the figure. The orthogonality regulariser is on "
            "the 64×64 feature transform as in the classifier. The score is the paper's part-averaged IoU (per shape: "
            "the mean IoU over its category's parts, an empty part counting 1) with the argmax over all parts "
            "(the reference evaluation restricts it to the category's parts). ShapeNet-Part is replaced by the "
            "embedded part_primitives."
        ),
    )
)

register(
    ModelSpec(
        name="pointnet_pp",
        family="three_d",
        task="classification",
        builder=PointNetPlusPlus,
        canonical_config=dict(input_shape=(1024, 3), num_classes=40),
        tiny_config=dict(
            input_shape=_TINY_POINTS, num_classes=6, levels=((16, 0.4, 8, (8,)), (None, None, None, (16,))), fc=(16,), dropout=0.0
        ),
        paper="Qi, Yi, Su & Guibas 2017, NIPS (arXiv 1706.02413)",
        seeds=("003",),
        default_dataset="primitives",
        inputs=_POINTS_IN,
        outputs=_CLASSES_OUT,
        train_recipe=dict(optimizer="adam", learning_rate=1e-3, batch_size=16, epochs=250),
        notes=(
            "Single-scale grouping (SSG) classification as in the released pointnet2_cls_ssg: SA(512, 0.2, 32) → "
            "SA(128, 0.4, 64) → group-all SA → FC 512, 256 (dropout 0.5) → K. FPS starts at point 0 (the reference CUDA "
            "kernel's choice); the ball query takes the first K points in index order, padded with the first. Gathers are "
            "one-hot products (every runtime has MatMul); FPS is a fori_loop (a While loop in exports). Grouped coordinates "
            "are relative to the centroid, without the normals of the MSG/normal variants."
        ),
    )
)

register(
    ModelSpec(
        name="descriptor_mlp_3d",
        family="three_d",
        task="classification",
        builder=D2MLP,
        canonical_config=dict(input_shape=(1024, 3), num_classes=40),
        tiny_config=dict(input_shape=_TINY_POINTS, num_classes=6, bins=16, hidden=(16,), dropout=0.0),
        paper="Osada, Funkhouser, Chazelle & Dobkin 2002, ACM TOG (D2); Fang et al. 2015, CVPR (descriptor → deep net)",
        seeds=("003",),
        default_dataset="primitives",
        inputs=_POINTS_IN,
        outputs=_CLASSES_OUT,
        notes=(
            "The spec's registry form: the D2 shape distribution (histogram of pairwise point distances) → MLP, not Fang et "
            "al.'s heat-kernel signatures (they need a mesh Laplacian). D2 uses all pairs of the given points (Osada samples "
            "random pairs) divided by their mean distance (scale invariance), 64 bins over [0, 3·mean); computed inside the "
            "model so the artifact takes raw points. MLP widths (256, 128) are ours: the paper gives none for D2."
        ),
    )
)

register(
    ModelSpec(
        name="pointnet_synthesis",
        family="three_d",
        task="autoencoder",
        builder=PointCloudAutoencoder,
        canonical_config=dict(input_shape=(2048, 3), code_size=128),
        tiny_config=dict(input_shape=_TINY_POINTS, encoder=(8,), code_size=8, decoder=(16,)),
        paper="Achlioptas, Diamanti, Mitliagkas & Guibas 2018, ICML (arXiv 1707.02392); Fan, Su & Guibas 2017, CVPR",
        seeds=("003",),
        default_dataset="primitives",
        inputs=_POINTS_IN,
        outputs=(TensorSpec("reconstruction", (None, 3)), TensorSpec("code", (None,))),
        train_recipe=dict(optimizer="adam", learning_rate=5e-4, batch_size=50),
        notes=(
            "Autoencoder with a PointNet encoder (64, 128, 128, 256, code 128; BN + ReLU; max-pool) and an FC decoder (256, "
            "256, N·3) trained on the Chamfer distance (the AE-CD of Achlioptas et al.); model.decode(code or noise) is the "
            "generator. EMD is exact (Hungarian, scipy) for evaluation at small N (earth_movers_distance); the spec's "
            "approximate EMD for training is not implemented. ShapeNet is replaced by the embedded primitives."
        ),
    )
)
