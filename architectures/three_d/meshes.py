"""Mesh networks: the Chebyshev spectral graph CNN and a differentiable SMPL body-model layer.

References:
- ChebNet: Defferrard, Bresson & Vandergheynst, "Convolutional neural networks on graphs with fast
  localized spectral filtering" (NIPS 2016), eq. 4–5: g_θ(L) x = Σ_{k<K} θ_k T_k(L̃) x with
  L̃ = 2L/λ_max − I, T_0 = 1, T_1 = L̃, T_k = 2 L̃ T_{k−1} − T_{k−2}; L = I − D^{−1/2} A D^{−1/2}
  the normalised graph Laplacian of the mesh's edges. Bruna, Zaremba, Szlam & LeCun (ICLR 2014)
  introduced the spectral construction; the Chebyshev form avoids the eigendecomposition.
  The mesh is an icosphere with a fixed topology (`subdivisions`); vertex features arrive as a
  [V, 1, F] "image" so that the segmentation task (per-vertex classes) serves it unchanged.
- SMPL: Loper, Mahmood, Romero, Pons-Moll & Black, "SMPL: a skinned multi-person linear model"
  (SIGGRAPH Asia 2015), eq. 1–10: T_P(β, θ) = T̄ + B_S(β) + B_P(θ) with shape blend shapes
  B_S = Σ β_n S_n and pose blend shapes B_P = Σ (R_n(θ) − R_n(θ*)) P_n over the 23 non-root joints'
  rotation matrices (Rodrigues of the axis-angle θ); joints J(β) = 𝒥 (T̄ + B_S(β)); linear blend
  skinning t'_i = Σ_k w_{k,i} G'_k(θ, J) t_i with G'_k the world transform of joint k with its rest
  pose removed. The licensed SMPL files cannot be bundled: the layer is initialised from a synthetic
  stand-in (`synthetic_body`: a stick figure of `num_joints` joints with `num_vertices` skin
  vertices) with the same interface and learns its template, blend shapes, joint regressor and
  skinning weights, as SMPL's were learned from registrations.
"""

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from architectures.segmentation.fcn import SEGMENTATION_OUTPUTS
from tasks import TensorSpec

# --- data as tables ------------------------------------------------------------------------------

# SMPL's kinematic tree (parent of each of the 24 joints; −1 = root, the pelvis).
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
# Rest offsets from the parent (metres, y up) of a stick figure standing in for SMPL's joints.
SMPL_OFFSETS = (
    (0, 0.9, 0), (0.09, -0.08, 0), (-0.09, -0.08, 0), (0, 0.11, 0), (0, -0.38, 0), (0, -0.38, 0),
    (0, 0.13, 0), (0, -0.4, 0), (0, -0.4, 0), (0, 0.05, 0), (0, -0.05, 0.12), (0, -0.05, 0.12),
    (0, 0.2, 0), (0.08, 0.12, 0), (-0.08, 0.12, 0), (0, 0.1, 0), (0.1, 0.03, 0), (-0.1, 0.03, 0),
    (0.26, 0, 0), (-0.26, 0, 0), (0.25, 0, 0), (-0.25, 0, 0), (0.08, 0, 0), (-0.08, 0, 0),
)


# --- mesh geometry (numpy; the data sources use these too) ------------------------------------------


def icosphere(subdivisions):
    """Unit icosphere: vertices float64 [V, 3] (V = 10·4^s + 2) and triangles int [F, 3]."""
    t = (1.0 + 5.0**0.5) / 2.0
    vertices = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t), (0, 1, -t),
                (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    faces = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2), (10, 7, 6),
             (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10),
             (8, 6, 7), (9, 8, 1)]
    vertices = [np.asarray(v, np.float64) / np.linalg.norm(v) for v in vertices]
    for _ in range(int(subdivisions)):
        cache, refined = {}, []

        def midpoint(a, b, cache=cache):
            key = (min(a, b), max(a, b))
            if key not in cache:
                m = vertices[a] + vertices[b]
                vertices.append(m / np.linalg.norm(m))
                cache[key] = len(vertices) - 1
            return cache[key]

        for a, b, c in faces:
            ab, bc, ca = midpoint(a, b), midpoint(b, c), midpoint(c, a)
            refined += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = refined
    return np.stack(vertices), np.asarray(faces)


def icosphere_level(num_vertices):
    """The subdivision level s with 10·4^s + 2 = num_vertices, or None."""
    for level in range(8):
        if 10 * 4**level + 2 == int(num_vertices):
            return level
    return None


def mesh_laplacian(num_vertices, faces):
    """Normalised graph Laplacian L = I − D^{−1/2} A D^{−1/2} [V, V] of a triangle mesh's edges."""
    adjacency = np.zeros((num_vertices, num_vertices))
    for a, b, c in np.asarray(faces):
        adjacency[[a, b, c], [b, c, a]] = 1.0
        adjacency[[b, c, a], [a, b, c]] = 1.0
    d = 1.0 / np.sqrt(np.maximum(adjacency.sum(axis=1), 1e-12))
    return np.eye(num_vertices) - d[:, None] * adjacency * d[None, :]


def scaled_laplacian(laplacian):
    """L̃ = 2 L / λ_max − I (eigenvalues in [−1, 1]), the argument of the Chebyshev polynomials."""
    lambda_max = float(np.linalg.eigvalsh(laplacian).max())
    return 2.0 * laplacian / lambda_max - np.eye(len(laplacian))


def chebyshev_filter_numpy(scaled, x, theta):
    """Dense reference: Σ_k T_k(L̃) x θ_k with T_k(L̃) as matrices. x [V, F_in], theta [K, F_in, F_out]."""
    polynomials = [np.eye(len(scaled)), scaled]
    while len(polynomials) < len(theta):
        polynomials.append(2.0 * scaled @ polynomials[-1] - polynomials[-2])
    return sum(polynomials[k] @ x @ theta[k] for k in range(len(theta)))


# --- the SMPL stand-in (numpy) --------------------------------------------------------------------------


def smpl_parents(num_joints):
    if not 2 <= num_joints <= len(SMPL_PARENTS):
        raise ValueError(f"num_joints must be in 2..{len(SMPL_PARENTS)} (SMPL's tree, truncated). Received: num_joints={num_joints}")
    return SMPL_PARENTS[:num_joints]


def synthetic_body(num_vertices, num_joints, num_betas, seed=0):
    """A stand-in for SMPL's model file: {"template" [V, 3], "shapedirs" [V, 3, B], "posedirs"
    [V, 3, 9(J−1)], "joint_regressor" [J, V], "weights" [V, J]}.

    The skeleton is SMPL's tree (truncated to `num_joints`) with stick-figure offsets; the skin is
    `num_vertices` points on cylinders around the bones; skinning weights fall off with the distance
    to each joint (normalised); the regressor averages each joint's nearest skin vertices; shape
    blend shapes scale the body along axes and bones, pose blend shapes are small random
    corrections (deterministic from `seed`)."""
    rng = np.random.default_rng(seed)
    parents = smpl_parents(num_joints)
    joints = np.zeros((num_joints, 3))
    for k in range(1, num_joints):
        joints[k] = joints[parents[k]] + np.asarray(SMPL_OFFSETS[k])
    bones = [(parents[k], k) for k in range(1, num_joints)]
    owner = rng.integers(0, len(bones), num_vertices)
    along = rng.uniform(0.0, 1.0, num_vertices)
    angle = rng.uniform(0.0, 2 * np.pi, num_vertices)
    template = np.zeros((num_vertices, 3))
    for index, (a, b) in enumerate(bones):
        chosen = owner == index
        axis = joints[b] - joints[a]
        length = np.linalg.norm(axis) + 1e-9
        u = axis / length
        helper = np.array([0.0, 0.0, 1.0]) if abs(u[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        e1 = np.cross(u, helper)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(u, e1)
        radius = 0.04 + 0.03 * rng.random()
        template[chosen] = (joints[a] + along[chosen, None] * axis
                            + radius * (np.cos(angle[chosen])[:, None] * e1 + np.sin(angle[chosen])[:, None] * e2))
    distance = np.linalg.norm(template[:, None, :] - joints[None, :, :], axis=-1)
    weights = np.exp(-distance / 0.08)
    weights /= weights.sum(axis=1, keepdims=True)
    regressor = np.zeros((num_joints, num_vertices))
    nearest = np.argsort(distance, axis=0)[: max(3, num_vertices // (2 * num_joints))]
    for k in range(num_joints):
        regressor[k, nearest[:, k]] = 1.0 / len(nearest)
    shapedirs = rng.normal(0.0, 0.01, (num_vertices, 3, num_betas))
    shapedirs[:, :, 0] += 0.05 * template  # β_0: overall size
    if num_betas > 1:
        shapedirs[:, 1, 1] += 0.05 * template[:, 1]  # β_1: height
    posedirs = rng.normal(0.0, 0.005, (num_vertices, 3, 9 * (num_joints - 1)))
    return {key: value.astype(np.float32) for key, value in dict(
        template=template, shapedirs=shapedirs, posedirs=posedirs, joint_regressor=regressor, weights=weights).items()}


def rodrigues_numpy(axis_angle):
    """Rotation matrices [..., 3, 3] of axis-angle vectors [..., 3] (reference for tests)."""
    angle = np.linalg.norm(axis_angle, axis=-1, keepdims=True)
    axis = axis_angle / np.maximum(angle, 1e-8)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*axis.shape[:-1], 3, 3)
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def standin_truth(num_vertices, num_joints, num_betas, template_seed=0):
    """The stand-in body the data come from: the template of `template_seed` with blend shapes
    4× those of another draw (fixed), which a layer started from zero blend shapes must learn."""
    truth = synthetic_body(num_vertices, num_joints, num_betas, seed=template_seed)
    other = synthetic_body(num_vertices, num_joints, num_betas, seed=1000 + template_seed)
    return {**truth, "shapedirs": 4.0 * other["shapedirs"], "posedirs": 4.0 * other["posedirs"]}


def smpl_example_batch(config, seed, n=8):
    """Poses, shapes and the vertices of the stand-in body with its true blend shapes (the
    sweep's batch): the layer starts from the template with zero blend shapes and learns them."""
    rng = np.random.default_rng(seed)
    joints, betas, vertices = int(config.get("num_joints", 24)), int(config.get("num_betas", 10)), int(config.get("num_vertices", 6890))
    truth = standin_truth(vertices, joints, betas, int(config.get("template_seed", 0)))
    pose = rng.normal(0.0, 0.3, (n, joints * 3)).astype(np.float32)
    shape = rng.normal(0.0, 1.0, (n, betas)).astype(np.float32)
    return {"pose": pose, "shape": shape}, smpl_forward_numpy(truth, pose, shape, smpl_parents(joints))


def smpl_forward_numpy(body, pose, shape, parents):
    """Numpy SMPL (eq. 1–10) for data generation and as the tests' reference: vertices [N, V, 3]."""
    n = len(pose)
    rotations = rodrigues_numpy(pose.reshape(n, -1, 3))
    v_shaped = body["template"][None] + np.einsum("vcb,nb->nvc", body["shapedirs"], shape)
    joints = np.einsum("jv,nvc->njc", body["joint_regressor"], v_shaped)
    pose_feature = (rotations[:, 1:] - np.eye(3)).reshape(n, -1)
    v_posed = v_shaped + np.einsum("vcp,np->nvc", body["posedirs"], pose_feature)
    world = [None] * len(parents)
    for k, parent in enumerate(parents):
        local = np.zeros((n, 4, 4))
        local[:, :3, :3] = rotations[:, k]
        local[:, :3, 3] = joints[:, k] - (joints[:, parent] if parent >= 0 else 0.0)
        local[:, 3, 3] = 1.0
        world[k] = local if parent < 0 else world[parent] @ local
    world = np.stack(world, axis=1)  # [N, J, 4, 4]
    rest = np.einsum("njab,njb->nja", world[..., :3, :3], joints)
    world[..., :3, 3] -= rest
    blended = np.einsum("vj,njab->nvab", body["weights"], world)
    homogeneous = np.concatenate([v_posed, np.ones((n, v_posed.shape[1], 1))], axis=-1)
    return np.einsum("nvab,nvb->nva", blended, homogeneous)[..., :3].astype(np.float32)


# --- layers -------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class ChebyshevConv(keras.layers.Layer):
    """ChebNet's graph convolution y = Σ_{k<K} T_k(L̃) x θ_k on the icosphere of `subdivisions`.

    L̃ is computed from the mesh when the layer is created and embedded as a constant in `call` (no
    weight, so every export runtime sees a plain matmul). Input [N, V, F_in] → [N, V, F_out].
    """

    def __init__(self, filters, order, subdivisions, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.order, self.subdivisions = int(filters), int(order), int(subdivisions)
        self.activation = keras.activations.get(activation)
        vertices, faces = icosphere(self.subdivisions)
        self._scaled = scaled_laplacian(mesh_laplacian(len(vertices), faces)).astype(np.float32)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(self.order * int(input_shape[-1]), self.filters), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, x):
        scaled = ops.convert_to_tensor(self._scaled, dtype=x.dtype)
        terms = [x]
        if self.order > 1:
            terms.append(ops.matmul(scaled, x))
        while len(terms) < self.order:
            terms.append(2.0 * ops.matmul(scaled, terms[-1]) - terms[-2])
        y = ops.matmul(ops.concatenate(terms, axis=-1), self.kernel) + self.bias
        return self.activation(y) if self.activation is not None else y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "order": self.order, "subdivisions": self.subdivisions,
                "activation": keras.activations.serialize(self.activation) if self.activation is not None else None}


def _rodrigues(axis_angle):
    """Rotation matrices [N, J, 3, 3] of axis-angle [N, J, 3] (Rodrigues' formula), differentiable
    at zero: the angle is computed as √(‖r‖² + ε)."""
    angle = ops.sqrt(ops.sum(ops.square(axis_angle), axis=-1, keepdims=True) + 1e-12)
    axis = axis_angle / angle
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = ops.zeros_like(x)
    k = ops.reshape(ops.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1), (-1, int(axis_angle.shape[1]), 3, 3))
    s, c = ops.sin(angle)[..., None], ops.cos(angle)[..., None]
    eye = ops.eye(3, dtype=axis_angle.dtype)
    return eye + s * k + (1.0 - c) * ops.matmul(k, k)


@keras.saving.register_keras_serializable(package="deepzoo")
class SMPLLayer(keras.layers.Layer):
    """SMPL's forward function: (pose θ [N, 3J], shape β [N, B]) → vertices [N, V, 3].

    Weights (all trainable, initialised from `synthetic_body(..., seed=template_seed)` with zero
    blend shapes unless `learn_from_zero` is False): template T̄, shape blend shapes S, pose blend
    shapes P, joint regressor 𝒥 and skinning weights W.
    """

    def __init__(self, num_vertices, num_joints, num_betas, template_seed=0, learn_from_zero=True, **kwargs):
        super().__init__(**kwargs)
        self.num_vertices, self.num_joints, self.num_betas = int(num_vertices), int(num_joints), int(num_betas)
        self.template_seed, self.learn_from_zero = int(template_seed), bool(learn_from_zero)
        self.parents = smpl_parents(self.num_joints)

    def build(self, input_shape=None):
        body = synthetic_body(self.num_vertices, self.num_joints, self.num_betas, seed=self.template_seed)
        if self.learn_from_zero:
            body["shapedirs"] = np.zeros_like(body["shapedirs"])
            body["posedirs"] = np.zeros_like(body["posedirs"])
        for key, value in body.items():
            # `weights` is a Layer property: the skinning weights are stored as `skinning_weights`.
            attribute = "skinning_weights" if key == "weights" else key
            setattr(self, attribute, self.add_weight(name=key, shape=value.shape, initializer=keras.initializers.Constant(value)))
        self.built = True

    def call(self, inputs):
        # Written with matmuls and reshapes rather than einsum: TFLite's converter cannot size the
        # batch-dynamic tensors some einsum lowerings produce.
        pose, shape = inputs
        j, v = self.num_joints, self.num_vertices
        rotations = _rodrigues(ops.reshape(pose, (-1, j, 3)))  # [N, J, 3, 3]
        shape_blend = ops.matmul(shape, ops.transpose(ops.reshape(self.shapedirs, (v * 3, self.num_betas))))
        v_shaped = self.template[None] + ops.reshape(shape_blend, (-1, v, 3))
        joints = ops.matmul(self.joint_regressor, v_shaped)  # [N, J, 3]
        pose_feature = ops.reshape(rotations[:, 1:] - ops.eye(3, dtype=pose.dtype), (-1, 9 * (j - 1)))
        pose_blend = ops.matmul(pose_feature, ops.transpose(ops.reshape(self.posedirs, (v * 3, 9 * (j - 1)))))
        v_posed = v_shaped + ops.reshape(pose_blend, (-1, v, 3))
        # Kinematic chain: world rotation and translation of each joint (a Python loop over the
        # fixed tree, unrolled in the graph).
        world_rotation, world_translation = [None] * j, [None] * j
        for k, parent in enumerate(self.parents):
            offset = joints[:, k] - (joints[:, parent] if parent >= 0 else 0.0)
            if parent < 0:
                world_rotation[k], world_translation[k] = rotations[:, k], offset
            else:
                world_rotation[k] = ops.matmul(world_rotation[parent], rotations[:, k])
                world_translation[k] = world_translation[parent] + ops.squeeze(ops.matmul(world_rotation[parent], offset[..., None]), -1)
        rotation = ops.stack(world_rotation, axis=1)  # [N, J, 3, 3]
        rest = ops.squeeze(ops.matmul(rotation, joints[..., None]), -1)
        translation = ops.stack(world_translation, axis=1) - rest  # the rest pose removed: G'_k
        blended_rotation = ops.reshape(ops.matmul(self.skinning_weights, ops.reshape(rotation, (-1, j, 9))), (-1, v, 3, 3))
        blended_translation = ops.matmul(self.skinning_weights, translation)
        return ops.squeeze(ops.matmul(blended_rotation, v_posed[..., None]), -1) + blended_translation

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], self.num_vertices, 3)

    def get_config(self):
        return {**super().get_config(), "num_vertices": self.num_vertices, "num_joints": self.num_joints, "num_betas": self.num_betas,
                "template_seed": self.template_seed, "learn_from_zero": self.learn_from_zero}


# --- models -------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class ChebNetMesh(ZooModel):
    """ChebNet per-vertex classifier on an icosphere mesh.

    Args:
        input_shape: (V, 1, F) vertex features of an icosphere (V = 10·4^s + 2; its level s, and so
            its Laplacian, follows from V).
        num_classes: K per vertex.
        filters: output channels of each Chebyshev layer (ReLU).
        order: K of the Chebyshev expansion (25 in Defferrard et al.'s MNIST model).
    """

    def __init__(self, input_shape=(642, 1, 4), num_classes=3, filters=(32, 64), order=25, preprocessing=None, name=None, **kwargs):
        shape = tuple(input_shape)
        subdivisions = icosphere_level(shape[0]) if len(shape) == 3 and shape[0] else None
        if subdivisions is None or shape[1] != 1:
            raise ValueError(f"ChebNet needs icosphere vertex features (V, 1, F) with V = 10·4^s + 2 (42, 162, 642, ...). Received: input_shape={shape}")
        vertices = int(shape[0])
        from architectures.layers.preprocessing import model_input

        inputs, x = model_input(shape, preprocessing)
        x = keras.layers.Reshape((vertices, shape[2]), name="vertices")(x)
        for index, width in enumerate(filters):
            x = ChebyshevConv(width, order, subdivisions, activation="relu", name=f"cheb{index + 1}")(x)
        x = ChebyshevConv(num_classes, 1, subdivisions, name="classifier")(x)  # K = 1: a per-vertex linear map
        x = keras.layers.Reshape((vertices, 1, num_classes), name="as_grid")(x)
        x = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
        super().__init__(inputs=inputs, outputs=x, name=name or "chebnet_mesh", **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class SMPLModel(ZooModel):
    """SMPL as a model: inputs "pose" [3J] (axis-angle per joint) and "shape" [B] → vertices [V, 3]."""

    def __init__(self, num_vertices=6890, num_joints=24, num_betas=10, template_seed=0, learn_from_zero=True, name=None, **kwargs):
        pose = keras.Input(shape=(3 * int(num_joints),), name="pose")
        shape = keras.Input(shape=(int(num_betas),), name="shape")
        vertices = SMPLLayer(num_vertices, num_joints, num_betas, template_seed, learn_from_zero, name="smpl")([pose, shape])
        super().__init__(inputs=[pose, shape], outputs=vertices, name=name or "smpl", **kwargs)


# --- variants -----------------------------------------------------------------------------------------

# SMPL's model file: template 6890×3, shapedirs 6890×3×10, posedirs 6890×3×207, J_regressor 24×6890,
# weights 6890×24.
SMPL_PARAMS = 6890 * 3 + 6890 * 3 * 10 + 6890 * 3 * 207 + 24 * 6890 + 6890 * 24

register(
    ModelSpec(
        name="mesh_spectral_cnn",
        family="three_d",
        task="segmentation",
        builder=ChebNetMesh,
        canonical_config=dict(input_shape=(642, 1, 4), num_classes=3, filters=(32, 64), order=25),
        tiny_config=dict(input_shape=(42, 1, 4), num_classes=3, filters=(8,), order=3),
        paper="Defferrard, Bresson & Vandergheynst 2016 (NIPS, ChebNet); Bruna, Zaremba, Szlam & LeCun 2014 (ICLR)",
        seeds=("003",),
        default_dataset="mesh_bumps",
        inputs=(TensorSpec("input", (None, 1, None)),),
        outputs=SEGMENTATION_OUTPUTS,
        notes=(
            "Mentioned only in the notes: a per-vertex ChebNet on a fixed icosphere (vertex features as a "
            "[V, 1, F] grid so the segmentation task serves it). Order K = 25 follows the paper's MNIST model; "
            "no graph coarsening/pooling (segmentation keeps every vertex). No reference count."
        ),
    )
)

register(
    ModelSpec(
        name="smpl_layer",
        family="three_d",
        task="regression",
        builder=SMPLModel,
        canonical_config=dict(num_vertices=6890, num_joints=24, num_betas=10),
        tiny_config=dict(num_vertices=64, num_joints=6, num_betas=4),
        reference_params=SMPL_PARAMS,
        reference_source="P: the SMPL model file's arrays (template, shapedirs, posedirs, J_regressor, weights)",
        paper="Loper, Mahmood, Romero, Pons-Moll & Black 2015 (SIGGRAPH Asia, SMPL)",
        seeds=("003",),
        default_dataset="smpl_standin",
        example_batch=smpl_example_batch,
        inputs=(TensorSpec("pose", (None,)), TensorSpec("shape", (None,))),
        outputs=(TensorSpec("output", (None, 3)),),
        notes=(
            "The SMPL files are licensed: the layer is SMPL's differentiable forward function (shape and pose "
            "blend shapes, joint regression, Rodrigues, kinematic chain, linear blend skinning) on a synthetic "
            "stand-in body (stick figure with SMPL's kinematic tree, skin on cylinders). Its weights train: the "
            "default data ask it to recover the stand-in's blend shapes from posed meshes."
        ),
    )
)
