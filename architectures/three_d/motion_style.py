"""Unpaired motion style transfer (Aberman, Weng, Lischinski, Cohen-Or & Chen 2020).

Reference: Aberman et al., "Unpaired motion style transfer from video to animation", SIGGRAPH 2020
(ACM TOG 39(4)), §3–4, and the authors' reference code (deep-motion-editing, style_transfer).

    content encoder E_C   temporal Conv1D (kernel 8, stride 2, reflection padding) → instance norm
                          → LeakyReLU(0.2), twice: a content code [T/4, C] without the clip's
                          per-channel statistics (the instance norm removes them)
    style encoder   E_S   Conv1D (kernel 8, stride 2) → LeakyReLU, twice, then a max over time: the
                          style code s ∈ R^S
    decoder         F     residual blocks and up-sampling stages (×2 nearest, Conv1D kernel 7) whose
                          normalisations are AdaIN: γ·(h − μ(h))/σ(h) + β, with every (γ, β) of the
                          decoder from one MLP on the style code; a last Conv1D back to the features
    discriminator   D     Conv1D (kernel 4, stride 2) → LeakyReLU stages and one 1×1 head per style
                          (one real/fake score per style, averaged over time); D(m, k) reads head k

Losses (generator side; D plays least squares on the head of the clip's style):
    reconstruction   ‖F(E_C(m), E_S(m)) − m‖₁ for the content clip and for the style clip
    joint positions  mean over joints of the Euclidean error ‖p̂_j − p_j‖₂ of those reconstructions
    content consistency (cycle)  ‖F(E_C(F(E_C(m), E_S(n))), E_S(m)) − m‖₁
    adversarial      ½(D(F(E_C(m), E_S(n)), style(n)) − 1)²

Fidelity notes (the paper wins where the spec differs; these are where we differ from the paper):
- The paper's content input is joint rotations (quaternions) plus root velocity and its output is
  mapped to positions by forward kinematics for the joint-position loss; its style encoder reads
  3-D joint positions (or 2-D keypoints from video). The walk_cycles data are root-relative 2-D joint
  positions, so both encoders read positions and the joint-position loss is taken directly on the
  decoded positions (no FK layer). The triplet loss on style codes and the 2-D (video) style branch
  are not implemented.
- The least-squares GAN loss is used for D (the reference code's default "lsgan").
- Data are normalised inside the model: `value_range` maps to [−1, 1] (a scalar affine map, so the
  content code stays invariant to it); the paper normalises each channel by the dataset statistics.
"""

import keras
from keras import ops

from architectures.generative.translation import ImageTranslator
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks.generative import (
    least_squares_discriminator_loss,
    least_squares_generator_loss,
)

# Widths in the range of the reference code's configuration (content encoder → 192 → 256 over two
# stride-2 layers, a 144-d style code, decoder 256 → 192 → features, MLP 192, discriminator 96 → 144
# with one head per style; 32-frame windows; 8 styles as in Xia et al.'s data). Recalled, not
# checked against the code offline: the parameter count is ours (source B), not the paper's.
ABERMAN = dict(
    frames=32, features=30, num_styles=8, content_filters=(192, 256), style_filters=(96, 144),
    decoder_filters=(192,), residual_blocks=1, mlp_units=192, discriminator_filters=(96, 144),
)
LEAK = 0.2


# --- blocks ---------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class ReflectionPad1D(keras.layers.Layer):
    """Reflection padding of the time axis of [N, T, C] (left, right frames)."""

    def __init__(self, left, right, **kwargs):
        super().__init__(**kwargs)
        self.left, self.right = int(left), int(right)

    def call(self, inputs):
        # Slices, flips and a concatenation: the same values as ops.pad(mode="reflect"), whose
        # MirrorPad gradient made the XLA-compiled train step 2-3x slower to compile.
        parts = [inputs]
        if self.left:
            parts.insert(0, ops.flip(inputs[:, 1:self.left + 1], axis=1))
        if self.right:
            parts.append(ops.flip(inputs[:, -self.right - 1:-1], axis=1))
        return ops.concatenate(parts, axis=1) if len(parts) > 1 else inputs

    def compute_output_shape(self, input_shape):
        frames = None if input_shape[1] is None else input_shape[1] + self.left + self.right
        return (input_shape[0], frames, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "left": self.left, "right": self.right}


@keras.saving.register_keras_serializable(package="deepzoo")
class TemporalInstanceNorm(keras.layers.Layer):
    """Instance normalisation of [N, T, C] over time, per example and channel (no affine)."""

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        mean = ops.mean(inputs, axis=1, keepdims=True)
        variance = ops.mean(ops.square(inputs - mean), axis=1, keepdims=True)
        return (inputs - mean) * ops.rsqrt(variance + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="deepzoo")
class AdaIN(keras.layers.Layer):
    """Adaptive instance normalisation (Huang & Belongie 2017): `[h [N, T, C], γ [N, C], β [N, C]]`
    → γ·(h − μ_t(h))/σ_t(h) + β, so every output channel has mean β and standard deviation |γ|."""

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        features, gamma, beta = inputs
        mean = ops.mean(features, axis=1, keepdims=True)
        variance = ops.mean(ops.square(features - mean), axis=1, keepdims=True)
        normalized = (features - mean) * ops.rsqrt(variance + self.epsilon)
        return gamma[:, None, :] * normalized + beta[:, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def _conv(x, filters, kernel_size, strides, name):
    """Conv1D with reflection padding; stride 2 halves an even number of frames."""
    total = int(kernel_size) - int(strides)
    x = ReflectionPad1D(total // 2, total - total // 2, name=f"{name}_pad")(x)
    return keras.layers.Conv1D(int(filters), int(kernel_size), strides=int(strides), name=name)(x)


def content_encoder(frames, features, filters, name="content_encoder"):
    motion = keras.Input((frames, features), name="motion")
    x = motion
    for index, width in enumerate(filters):
        x = _conv(x, width, 8, 2, f"{name}_conv{index}")
        x = TemporalInstanceNorm(name=f"{name}_norm{index}")(x)
        x = keras.layers.LeakyReLU(LEAK, name=f"{name}_act{index}")(x)
    return keras.Model(motion, x, name=name)


def style_encoder(frames, features, filters, name="style_encoder"):
    motion = keras.Input((frames, features), name="motion")
    x = motion
    for index, width in enumerate(filters):
        x = _conv(x, width, 8, 2, f"{name}_conv{index}")
        x = keras.layers.LeakyReLU(LEAK, name=f"{name}_act{index}")(x)
    return keras.Model(motion, keras.layers.GlobalMaxPooling1D(name=f"{name}_pool")(x), name=name)


def decoder(code_shape, style_dim, features, filters, residual_blocks, mlp_units, name="decoder"):
    """(content code [T/2^k, C], style code [S]) → motion [T, features]; each AdaIN's (γ, β) are a
    slice of one MLP output on the style code."""
    code = keras.Input(code_shape, name="content_code")
    style = keras.Input((style_dim,), name="style_code")
    widths = [code_shape[-1]] * (2 * int(residual_blocks)) + list(filters)
    h = keras.layers.Dense(int(mlp_units), name=f"{name}_mlp0")(style)
    h = keras.layers.LeakyReLU(LEAK, name=f"{name}_mlp0_act")(h)
    h = keras.layers.Dense(int(mlp_units), name=f"{name}_mlp1")(h)
    h = keras.layers.LeakyReLU(LEAK, name=f"{name}_mlp1_act")(h)
    params = keras.layers.Dense(2 * sum(widths), name=f"{name}_adain_params")(h)
    offsets = [0]
    for width in widths:
        offsets.append(offsets[-1] + 2 * width)
    slot = iter(range(len(widths)))

    def adain(x, label):
        index = next(slot)
        start, width = offsets[index], widths[index]
        gamma = params[:, start:start + width]
        beta = params[:, start + width:start + 2 * width]
        return AdaIN(name=f"{name}_{label}")([x, gamma, beta])

    x = code
    for block in range(int(residual_blocks)):
        skip = x
        y = _conv(x, code_shape[-1], 3, 1, f"{name}_res{block}_conv0")
        y = keras.layers.LeakyReLU(LEAK, name=f"{name}_res{block}_act0")(adain(y, f"res{block}_adain0"))
        y = adain(_conv(y, code_shape[-1], 3, 1, f"{name}_res{block}_conv1"), f"res{block}_adain1")
        x = keras.layers.Add(name=f"{name}_res{block}_add")([skip, y])
    for index, width in enumerate(filters):
        x = keras.layers.UpSampling1D(2, name=f"{name}_up{index}")(x)
        x = adain(_conv(x, width, 7, 1, f"{name}_up{index}_conv"), f"up{index}_adain")
        x = keras.layers.LeakyReLU(LEAK, name=f"{name}_up{index}_act")(x)
    x = keras.layers.UpSampling1D(2, name=f"{name}_up_out")(x)
    motion = _conv(x, features, 7, 1, f"{name}_out")
    return keras.Model([code, style], motion, name=name)


def multi_style_discriminator(frames, features, filters, num_styles, name="discriminator"):
    """motion [T, features] → scores [T/2^k, num_styles]: one real/fake head per style."""
    motion = keras.Input((frames, features), name="motion")
    x = motion
    for index, width in enumerate(filters):
        x = _conv(x, width, 4, 2, f"{name}_conv{index}")
        x = keras.layers.LeakyReLU(LEAK, name=f"{name}_act{index}")(x)
    scores = keras.layers.Conv1D(int(num_styles), 1, name=f"{name}_heads")(x)
    return keras.Model(motion, scores, name=name)


# --- the model ------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class MotionStyleTransfer(ImageTranslator):
    """`model({"content": m, "style": n})` → {"generated": F(E_C(m), E_S(n))} in input units;
    `fit(x, y)` with y = {"content_label", "style_label"} (style ids of the two clips) trains
    E_C, E_S and F (one optimiser) against the multi-head D (its own optimiser).

    Args:
        frames: clip length T (a multiple of 2 ** len(content_filters)). features: values per frame
            (joint_dims per joint).
        num_styles: discriminator heads. content_filters / style_filters: encoder widths (one
            stride-2 layer each). decoder_filters: widths of the up-sampling stages (one fewer than
            content_filters). residual_blocks: AdaIN residual blocks at the code's resolution.
        mlp_units: width of the MLP that maps the style code to every (γ, β).
        discriminator_filters: D's widths. joint_dims: coordinates per joint (2 here, 3 in 3-D).
        reconstruction_weight, joint_weight, cycle_weight, adversarial_weight: loss weights.
        value_range: (low, high) of the data, mapped to [−1, 1] inside the model.
    """

    target_keys = ("generated",)
    paired = True

    def __init__(
        self, frames=32, features=30, num_styles=4, content_filters=(192, 256), style_filters=(96, 144), decoder_filters=(192,),
        residual_blocks=1, mlp_units=192, discriminator_filters=(96, 144), joint_dims=2, reconstruction_weight=1.0,
        joint_weight=1.0, cycle_weight=1.0, adversarial_weight=1.0, value_range=(-1.0, 1.0), name="motion_style_transfer", **kwargs,
    ):
        frames, features, num_styles = int(frames), int(features), int(num_styles)
        content_filters, style_filters = tuple(int(f) for f in content_filters), tuple(int(f) for f in style_filters)
        decoder_filters, discriminator_filters = tuple(int(f) for f in decoder_filters), tuple(int(f) for f in discriminator_filters)
        factor = 2 ** len(content_filters)
        if not content_filters or frames % factor or frames < 2 * factor:
            raise ValueError(f"frames must be a multiple of 2 ** len(content_filters) = {factor} and at least {2 * factor}. Received: frames={frames}")
        if len(decoder_filters) != len(content_filters) - 1:
            raise ValueError(f"decoder_filters needs len(content_filters) - 1 = {len(content_filters) - 1} widths. Received: decoder_filters={decoder_filters}")
        if features % int(joint_dims):
            raise ValueError(f"features must be a multiple of joint_dims. Received: features={features}, joint_dims={joint_dims}")
        if num_styles < 2:
            raise ValueError(f"num_styles must be at least 2. Received: num_styles={num_styles}")
        low, high = (float(v) for v in value_range)
        if not high > low:
            raise ValueError(f"value_range must be (low, high) with high > low. Received: value_range={value_range}")
        self._config = dict(
            frames=frames, features=features, num_styles=num_styles, content_filters=content_filters, style_filters=style_filters,
            decoder_filters=decoder_filters, residual_blocks=int(residual_blocks), mlp_units=int(mlp_units),
            discriminator_filters=discriminator_filters, joint_dims=int(joint_dims), reconstruction_weight=float(reconstruction_weight),
            joint_weight=float(joint_weight), cycle_weight=float(cycle_weight), adversarial_weight=float(adversarial_weight),
            value_range=(low, high),
        )
        e_c = content_encoder(frames, features, content_filters)
        e_s = style_encoder(frames, features, style_filters)
        f = decoder((frames // factor, content_filters[-1]), style_filters[-1], features, decoder_filters, residual_blocks, mlp_units)
        d = multi_style_discriminator(frames, features, discriminator_filters, num_styles)
        content = keras.Input((frames, features), name="content")
        style = keras.Input((frames, features), name="style")
        to_unit = keras.layers.Rescaling(2.0 / (high - low), offset=-(high + low) / (high - low), name="normalize")
        to_data = keras.layers.Rescaling((high - low) / 2.0, offset=(high + low) / 2.0, name="denormalize")
        generated = to_data(f([e_c(to_unit(content)), e_s(to_unit(style))]))
        super().__init__(inputs={"content": content, "style": style}, outputs={"generated": generated}, name=name, **kwargs)
        self.content_encoder, self.style_encoder, self.decoder, self.discriminator = e_c, e_s, f, d
        self.num_styles, self.joint_dims = num_styles, int(joint_dims)
        self._setup([e_c, e_s, f], [d], ("loss", "d_loss", "reconstruction", "joint", "cycle", "g_adversarial"), value_range=(low, high))

    def get_config(self):
        return {"name": self.name, **{k: list(v) if isinstance(v, tuple) else v for k, v in self._config.items()}}

    # --- losses -------------------------------------------------------------------------------

    def style_scores(self, motion_unit, labels, training=False):
        """D's time-averaged score of each clip on the head of its style `labels` [N]."""
        scores = ops.mean(self.discriminator(motion_unit, training=training), axis=1)
        return ops.sum(scores * ops.one_hot(ops.cast(labels, "int32"), self.num_styles), axis=-1)

    def _joint_error(self, output, target):
        shape = (-1, self._config["frames"], self._config["features"] // self.joint_dims, self.joint_dims)
        difference = ops.reshape(output - target, shape)
        return ops.mean(ops.sqrt(ops.sum(ops.square(difference), axis=-1) + 1e-8))

    def _labels(self, y):
        if not isinstance(y, dict) or "content_label" not in y or "style_label" not in y:
            raise ValueError(f"MotionStyleTransfer trains on y = {{'content_label', 'style_label'}} (style ids). Received: {type(y).__name__}")
        return y["content_label"], y["style_label"]

    def _objectives(self, x, y, training=True):
        content_label, style_label = self._labels(y)
        m = self.from_pixels(ops.cast(x["content"], self.compute_dtype))
        n = self.from_pixels(ops.cast(x["style"], self.compute_dtype))
        batch = ops.shape(m)[0]
        # One call per network on the stacked batch (instance norm and AdaIN are per example, so
        # this equals separate calls): a graph a third of the size to trace and XLA-compile.
        codes = self.content_encoder(ops.concatenate([m, n], axis=0), training=training)
        styles = self.style_encoder(ops.concatenate([m, n], axis=0), training=training)
        code_m, style_m, style_n = codes[:batch], styles[:batch], styles[batch:]
        decoded = self.decoder([ops.concatenate([codes, code_m], axis=0), ops.concatenate([styles, style_n], axis=0)], training=training)
        rec_m, rec_n, fake = decoded[:batch], decoded[batch:2 * batch], decoded[2 * batch:]
        reconstruction = ops.mean(ops.abs(rec_m - m)) + ops.mean(ops.abs(rec_n - n))
        joint = self._joint_error(rec_m, m) + self._joint_error(rec_n, n)
        back = self.decoder([self.content_encoder(fake, training=training), style_m], training=training)
        cycle = ops.mean(ops.abs(back - m))
        adversarial = least_squares_generator_loss(self.style_scores(fake, style_label, training))
        c = self._config
        loss = (c["reconstruction_weight"] * reconstruction + c["joint_weight"] * joint + c["cycle_weight"] * cycle
                + c["adversarial_weight"] * adversarial)
        labels = ops.concatenate([ops.cast(style_label, "int32"), ops.cast(content_label, "int32"), ops.cast(style_label, "int32")], axis=0)
        d_scores = self.style_scores(ops.concatenate([n, m, ops.stop_gradient(fake)], axis=0), labels, training)
        d_loss = least_squares_discriminator_loss(d_scores[:2 * batch], d_scores[2 * batch:])
        return loss, d_loss, {"reconstruction": reconstruction, "joint": joint, "cycle": cycle, "g_adversarial": adversarial}

    # --- the task's hooks ---------------------------------------------------------------------

    def example_targets(self, x, rng):
        """The sweep's targets: random style ids of the content and style clips."""
        n = len(x["content"])
        return {
            "content_label": rng.integers(0, self.num_styles, size=n).astype("int32"),
            "style_label": rng.integers(0, self.num_styles, size=n).astype("int32"),
        }

    def evaluation_terms(self, x, y):
        """Self-reconstruction (a clip as its own style) L1 and joint error, and, where y carries the
        true transfer ("generated"), the transfer's L1 and PSNR (peak = the value_range's span)."""
        import numpy as np

        content = np.asarray(x["content"], "float32")
        itself = np.asarray(self.predict({"content": content, "style": content}, verbose=0)["generated"])
        joints = (itself - content).reshape(len(content), content.shape[1], -1, self.joint_dims)
        report = {
            "reconstruction_l1": float(np.mean(np.abs(itself - content))),
            "joint_error": float(np.mean(np.linalg.norm(joints, axis=-1))),
        }
        if isinstance(y, dict) and "generated" in y:
            target = np.asarray(y["generated"], "float32")
            transfer = np.asarray(self.predict({"content": content, "style": np.asarray(x["style"], "float32")}, verbose=0)["generated"])
            low, high = self._config["value_range"]
            mse = float(np.mean(np.square(transfer - target)))
            report["l1"] = float(np.mean(np.abs(transfer - target)))
            report["psnr"] = float(10.0 * np.log10((high - low) ** 2 / max(mse, 1e-12)))
        return report


def motion_style_parameter_count(frames, features, num_styles, content_filters, style_filters, decoder_filters, residual_blocks,
                                 mlp_units, discriminator_filters, **_):
    """Weights and biases of E_C, E_S, F (with its MLP) and D, layer by layer."""
    def conv(cin, cout, k):
        return cin * cout * k + cout

    count, width = 0, features
    for out in content_filters:
        count, width = count + conv(width, out, 8), out
    code = width
    width = features
    for out in style_filters:
        count, width = count + conv(width, out, 8), out
    style = width
    adain = [code] * (2 * residual_blocks) + list(decoder_filters)
    count += conv(style, mlp_units, 1) + conv(mlp_units, mlp_units, 1) + conv(mlp_units, 2 * sum(adain), 1)
    count += residual_blocks * 2 * conv(code, code, 3)
    width = code
    for out in decoder_filters:
        count, width = count + conv(width, out, 7), out
    count += conv(width, features, 7)
    width = features
    for out in discriminator_filters:
        count, width = count + conv(width, out, 4), out
    return count + conv(width, num_styles, 1)


register(
    ModelSpec(
        name="motion_style_transfer",
        family="three_d",
        task="image_to_image",
        builder=MotionStyleTransfer,
        canonical_config=ABERMAN,
        tiny_config=dict(frames=32, features=30, num_styles=4, content_filters=(8,), style_filters=(8,), decoder_filters=(),
                         residual_blocks=1, mlp_units=16, discriminator_filters=(8,)),
        reference_params=motion_style_parameter_count(**ABERMAN),
        reference_source="B (counted from our layers at widths close to the reference code's: E_C 192/256, E_S 96/144, one AdaIN residual block, MLP 192, D 96/144 with 8 heads, on 30 features)",
        paper="Aberman, Weng, Lischinski, Cohen-Or & Chen 2020, SIGGRAPH (Unpaired motion style transfer from video to animation)",
        seeds=("003",),
        default_dataset="walk_cycle_styles",
        train_recipe=dict(optimizer="adam", learning_rate=1e-3, beta_1=0.5, batch_size=32, epochs=40),
        inputs=(TensorSpec("content", (32, 30), "float32"), TensorSpec("style", (32, 30), "float32")),
        outputs=(TensorSpec("generated", (32, 30), "float32"),),
        limitations={
            "tflite_int8": (
                "full-integer int8 loses the instance norms' and AdaIN's per-clip statistics (rsqrt of small "
                "variances): about 15 % relative RMSE against Keras on walk cycles, over the 5 % tolerance"
            ),
        },
        export_endpoint="content and style motions float32 [N, frames, features] → generated: the content clip in the style clip's style (input units)",
        notes=(
            "Both encoders read root-relative 2-D joint positions (the paper: rotations for content, positions or video "
            "keypoints for style) and the joint-position loss is taken on the decoded positions without an FK layer; "
            "no triplet loss on style codes; LSGAN losses. Trained on synthetic stick-figure walk cycles (4 styles), "
            "not Xia et al.'s mocap (module docstring)."
        ),
    )
)
