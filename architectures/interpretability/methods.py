"""Family C (spec §2 C): the localiser, the explained classifier every method row builds, and
the decoders of a fixed classifier's features.

- `two_head_localizer`: Sermanet et al. 2014 (OverFeat localisation) in the Keras form of the
  spec: backbone → GAP → Dense(K, softmax) + Dense(4, sigmoid: normalised centre box) + the 003
  variant's object score p_c; L = α·S + (1 − α)·R with 003's conditional mask (no class or box
  loss on images without an object). Joint or separate training: `tasks.interpretability.fit_localizer`.
- The method rows (`cam`, `grad_cam`, `augmented_grad_cam`, `saliency_map`,
  `activation_maximization`, `max_activating_patches`, `occlusion_sensitivity`, `deep_dream`,
  `fgsm`, `adversarial_sticker`) are methods over any image classifier
  (`tasks.interpretability`). Their registry entry builds `ExplainedCNN`, a conv → GAP → Dense
  classifier (the CAM form, Zhou et al. 2016: VGG-16 truncated after conv5_3 + conv 3×3 1024 →
  GAP → FC at canonical size), whose export endpoint adds the method's output where the method
  is one forward/backward pass (CAM, Grad-CAM, saliency, FGSM). `fgsm` trains adversarially
  (Goodfellow et al. 2015: J̃ = αJ(x) + (1 − α)J(x_adv), α = 0.5).
- `perception_visualization` (Giulivi & Boracchi 2022) and `feature_inversion_net` (Dosovitskiy
  & Brox 2016): `FeatureDecoder`, a frozen classifier encoder and a trainable up-convolutional
  decoder (from the last conv map, or from the pooled feature vector), pixel MSE.
"""

import keras

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks.interpretability import (
    ENDPOINT_OUTPUTS,
    adversarial_objective,
    localization_loss,
)

# The CAM paper's VGGnet-GAP: VGG-16 config D without pool5 and the FC layers, conv 3×3 1024.
VGG16_GAP = dict(filters=(64, 128, 256, 512, 512), convs_per_stage=(2, 2, 3, 3, 3), pool_last=False, head_conv=1024)
# The shapes classifier the methods are shown on (canonical) and the sweep's tiny one.
SHAPES_CNN = dict(filters=(32, 64, 128), convs_per_stage=2, pool_last=False)
TINY_CNN = dict(filters=(8, 16), convs_per_stage=1, pool_last=False)


def _per_stage(value, stages):
    values = [int(value)] * stages if isinstance(value, int) else [int(v) for v in value]
    if len(values) != stages:
        raise ValueError(f"convs_per_stage needs one entry per stage ({stages}). Received: {value}")
    return values


def conv_trunk(x, filters, convs_per_stage, pool_last, head_conv=0, batch_norm=False, trainable=True):
    """[(conv 3×3 same + ReLU) × n → max-pool 2] per stage (no pool after the last stage when
    `pool_last` is False: CAM keeps the last map large), then an optional conv 3×3 `head_conv`."""
    stages = len(filters)
    for stage, (width, count) in enumerate(zip(filters, _per_stage(convs_per_stage, stages)), start=1):
        for index in range(1, count + 1):
            conv = keras.layers.Conv2D(width, 3, padding="same", use_bias=not batch_norm, name=f"block{stage}_conv{index}", trainable=trainable)
            x = conv(x)
            if batch_norm:
                x = keras.layers.BatchNormalization(name=f"block{stage}_bn{index}", trainable=trainable)(x)
            x = keras.layers.Activation("relu", name=f"block{stage}_relu{index}")(x)
        if stage < stages or pool_last:
            x = keras.layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
    if head_conv:
        x = keras.layers.Conv2D(head_conv, 3, padding="same", activation="relu", name="cam_conv", trainable=trainable)(x)
    return x


def _check_shape(input_shape, filters, pool_last):
    reductions = len(filters) - (0 if pool_last else 1)
    if input_shape[0] is not None and input_shape[0] // 2**reductions < 1:
        raise ValueError(f"{len(filters)} stages halve a {input_shape[0]}-pixel image to nothing. Received: input_shape={input_shape}")


@keras.saving.register_keras_serializable(package="deepzoo")
class ExplainedCNN(ZooModel):
    """conv trunk → GlobalAveragePooling → Dense(K, softmax): a classifier every method of
    family C applies to, and the one CAM needs (no hidden FC layer).

    Args:
        input_shape, num_classes, filters, convs_per_stage, pool_last, head_conv, batch_norm:
            the trunk (`conv_trunk`) and the classes.
        method: the row's method; its endpoint output (`tasks.interpretability.ENDPOINT_OUTPUTS`).
        epsilon: FGSM strength for the endpoint, a fraction of `value_range`.
        adversarial_epsilon: > 0 trains with J̃ = αJ(x) + (1 − α)J(x + ε·sign ∇_x J).
        adversarial_alpha: α of J̃ (0.5 in the paper).
        value_range: (low, high) raw pixel range the attacks clip to.
        preprocessing: deterministic preprocessing (normalisation statistics from training).
    """

    def __init__(
        self, input_shape=(32, 32, 3), num_classes=10, filters=(32, 64, 128), convs_per_stage=2, pool_last=False,
        head_conv=0, batch_norm=False, method="grad_cam", epsilon=0.007, adversarial_epsilon=0.0,
        adversarial_alpha=0.5, value_range=(0.0, 255.0), preprocessing=None, name=None, **kwargs,
    ):
        _check_shape(input_shape, filters, pool_last)
        if not 0.0 <= adversarial_alpha <= 1.0:
            raise ValueError(f"adversarial_alpha must be in [0, 1]. Received: adversarial_alpha={adversarial_alpha}")
        inputs, x = model_input(input_shape, preprocessing, name="image")
        x = conv_trunk(x, filters, convs_per_stage, pool_last, head_conv, batch_norm)
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
        outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name or method, **kwargs)
        self.method = method
        self.method_options = {"epsilon": float(epsilon), "value_range": tuple(value_range)} if method == "fgsm" else {}
        self.adversarial = (float(adversarial_epsilon), float(adversarial_alpha), tuple(value_range))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        epsilon, alpha, value_range = self.adversarial
        plain = lambda target, predicted: super(ExplainedCNN, self).compute_loss(x, target, predicted, sample_weight, training)
        if not training or epsilon <= 0.0:
            return plain(y, y_pred)
        return adversarial_objective(self, plain, x, y, y_pred, epsilon, alpha, value_range)


@keras.saving.register_keras_serializable(package="deepzoo")
class TwoHeadLocalizer(ZooModel):
    """Backbone → GAP → {probabilities: Dense(K, softmax), box: Dense(4, sigmoid), objectness:
    Dense(1, sigmoid)}; trained with L = α·S + (1 − α)·R (`tasks.interpretability.localization_loss`).

    Args:
        alpha: weight of the classification loss S (1 = classification only, 0 = box only).
        conditional_mask: 003's rule: class and box losses only where an object is present.
        hidden_units: an optional Dense layer shared by the heads (0 for none).
        pooling: "gap" (the spec's form) or "flatten" (keeps position for the box head).
        the rest: the backbone as in `ExplainedCNN`.
    """

    def __init__(
        self, input_shape=(32, 32, 3), num_classes=10, filters=(32, 64, 128), convs_per_stage=2, pool_last=False,
        batch_norm=True, hidden_units=128, pooling="gap", alpha=0.5, conditional_mask=True, preprocessing=None, name="two_head_localizer", **kwargs,
    ):
        _check_shape(input_shape, filters, pool_last)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1]. Received: alpha={alpha}")
        inputs, x = model_input(input_shape, preprocessing, name="image")
        if pooling not in ("gap", "flatten"):
            raise ValueError(f"pooling must be 'gap' or 'flatten'. Received: pooling={pooling!r}")
        x = conv_trunk(x, filters, convs_per_stage, pool_last, batch_norm=batch_norm)
        # GAP (the spec's Keras form) discards where things are; flatten (OverFeat's FC layers on
        # the map) keeps it, which the box head needs (benchmarks/bench_interpretability.py).
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x) if pooling == "gap" else keras.layers.Flatten(name="flatten")(x)
        if hidden_units:
            x = keras.layers.Dense(hidden_units, activation="relu", name="shared_fc")(x)
        outputs = {
            "probabilities": keras.layers.Dense(num_classes, activation="softmax", name="class_head")(x),
            "box": keras.layers.Dense(4, activation="sigmoid", name="box_head")(x),
            "objectness": keras.layers.Dense(1, activation="sigmoid", name="object_head")(x),
        }
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.alpha = float(alpha)
        self.conditional_mask = bool(conditional_mask)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = localization_loss(y, y_pred, alpha=self.alpha, conditional_mask=self.conditional_mask)
        extra = self.losses
        return loss + keras.ops.sum(keras.ops.stack(extra)) if extra else loss


@keras.saving.register_keras_serializable(package="deepzoo")
class FeatureDecoder(ZooModel):
    """A frozen classifier encoder (`conv_trunk`, layer names as `ExplainedCNN`'s so a trained
    classifier's weights load by name) and a trainable decoder back to the image.

    Args:
        input_shape, filters, convs_per_stage, pool_last, head_conv, batch_norm: the encoder, as
            the classifier's (`conv_trunk`); frozen (BN in inference mode).
        source: "feature_map" (perception visualisation: decode the last conv map, "what" and
            "where") or "feature_vector" (feature inversion: decode the pooled vector through a
            Dense projection to the coarsest grid, Dosovitskiy & Brox's up-convolutional net).
        decoder_filters: widths of the stride-2 Conv2DTranspose (5×5) layers, coarse to fine;
            their number must bring the feature grid back to the image size.
        value_range: (low, high) of the reconstructed pixels (sigmoid output scaled).
        classifier_path: a trained `ExplainedCNN` (.keras file or run folder) whose encoder
            weights are loaded by layer name; None leaves the (frozen) encoder as initialised.
    """

    def __init__(
        self, input_shape=(32, 32, 3), filters=(32, 64, 128), convs_per_stage=2, pool_last=False, head_conv=0, batch_norm=False,
        source="feature_map", decoder_filters=(64, 32), value_range=(0.0, 255.0), classifier_path=None,
        preprocessing=None, name=None, **kwargs,
    ):
        _check_shape(input_shape, filters, pool_last)
        if source not in ("feature_map", "feature_vector"):
            raise ValueError(f"source must be 'feature_map' or 'feature_vector'. Received: source={source!r}")
        reductions = len(filters) - (0 if pool_last else 1)
        if len(decoder_filters) != reductions:
            raise ValueError(f"{reductions} stride-2 up-convolutions bring the {reductions}× halved features back to the image. Received: decoder_filters={decoder_filters}")
        inputs, x = model_input(input_shape, preprocessing, name="image")
        features = conv_trunk(x, filters, convs_per_stage, pool_last, head_conv, batch_norm, trainable=False)
        if source == "feature_vector":
            grid = int(features.shape[1])
            x = keras.layers.GlobalAveragePooling2D(name="gap")(features)
            x = keras.layers.Dense(grid * grid * decoder_filters[0], activation="relu", name="project")(x)
            x = keras.layers.Reshape((grid, grid, decoder_filters[0]), name="to_grid")(x)
        else:
            x = features
        for index, width in enumerate(decoder_filters, start=1):
            x = keras.layers.Conv2DTranspose(width, 5, strides=2, padding="same", name=f"up{index}")(x)
            x = keras.layers.LeakyReLU(0.2, name=f"up{index}_relu")(x)
        x = keras.layers.Conv2D(int(input_shape[-1]), 3, padding="same", activation="sigmoid", name="to_pixels")(x)
        low, high = value_range
        outputs = keras.layers.Rescaling(high - low, low, name="to_range")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name or source, **kwargs)
        if classifier_path:
            load_encoder_weights(self, classifier_path)


def load_encoder_weights(decoder, classifier):
    """Copies the weights of every layer `decoder` shares by name with `classifier` (a model, a
    .keras path or a run folder); returns the names copied. Raises if none match."""
    from pathlib import Path

    if not isinstance(classifier, keras.Model):
        path = Path(classifier)
        classifier = keras.saving.load_model(str(path / "model.keras" if path.is_dir() else path))
    own = {layer.name: layer for layer in decoder.layers}
    copied = []
    for layer in classifier.layers:
        if layer.name in own and layer.weights and [w.shape for w in layer.weights] == [w.shape for w in own[layer.name].weights]:
            own[layer.name].set_weights(layer.get_weights())
            copied.append(layer.name)
    if not any(name.startswith("block") for name in copied):
        raise ValueError(f"No encoder layer of '{classifier.name}' matches the decoder's (expected block*_conv* layers of the same widths).")
    return copied


# --- the registry -------------------------------------------------------------------------------

IMAGE = (TensorSpec("image", (None, None, 3)),)
_TRAIN = dict(optimizer="adam", learning_rate=1e-3, momentum=0.0, weight_decay=0.0, batch_size=64, schedule="constant", epochs=20, label_smoothing=0.0)

_NOT_A_GRAPH = (
    "the method is {what} run by `deepzoo explain` over a trained classifier, not one graph: "
    "exporting would ship only the classifier (export the classifier run itself)"
)

# Method rows: (id, paper, seeds, what the method is, extra canonical/tiny config, notes).
METHOD_ROWS = (
    ("cam", "Zhou, Khosla, Lapedriza, Oliva & Torralba 2016 (CVPR), Learning Deep Features for Discriminative Localization", ("000", "001"), None, {},
     "Canonical: the paper's VGGnet-GAP (VGG-16 without pool5 and FC, conv 3×3 1024, GAP, FC 1000). Softmax over all classes and F_k = spatial mean (spec §9 #10). Box: the largest connected region above 20 % of the map's maximum (`heatmap_box`)."),
    ("grad_cam", "Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra 2017 (ICCV), Grad-CAM", ("000", "001"), None, {},
     "y_c is the pre-softmax score, the layer the last conv feature map (after its BN and ReLU where it has them); no architecture change needed: works on any registered image classifier with a conv layer (`deepzoo explain`). One image per map (spec §9 #11)."),
    ("augmented_grad_cam", "Morbidelli, Carrera, Rossi, Fragneto & Boracchi 2020 (ICASSP), Augmented Grad-CAM", ("000", "001"), "an optimisation (TV-regularised super-resolution by gradient descent over many augmented Grad-CAMs)", {},
     "h = argmin Σ_l ‖D·A_l·h − g_l‖² + λ·TV(h), A_l known rotations and shifts, D average down-sampling to the Grad-CAM grid, solved with Adam."),
    ("saliency_map", "Simonyan, Vedaldi & Zisserman 2014 (ICLR workshop), Deep Inside Convolutional Networks", ("000", "001", "004"), None, {},
     "M(i, j) = max_ch |∂S_y/∂I(i, j, ch)|, S_y the unnormalised class score."),
    ("activation_maximization", "Erhan, Bengio, Courville & Vincent 2009; Simonyan et al. 2014; Yosinski, Clune, Nguyen, Fuchs & Lipson 2015", ("000", "001", "004"), "gradient ascent on the input image (hundreds of steps with blur and clipping between them)", {},
     "argmax S_c(I) − λ‖I‖² (the penalty subtracted, spec §9 #12) with Yosinski's L2 decay, periodic Gaussian blur and small-norm / small-contribution pixel clipping."),
    ("max_activating_patches", "Zeiler & Fergus 2014 (ECCV); Girshick, Donahue, Darrell & Malik 2014 (R-CNN unit visualisation)", ("000", "001", "004"), "a ranking over a whole dataset's activations (top-k images and their receptive-field crops)", {},
     "Crops from the receptive-field calculator of spec §3 (`receptive_field`)."),
    ("occlusion_sensitivity", "Zeiler & Fergus 2014 (ECCV), Visualizing and Understanding Convolutional Networks", ("004",), "a sliding-window loop (one forward pass per occluder position)", {},
     "A grey (image-mean) square of configurable size and stride; map = p_c(I) − p_c(occluded)."),
    ("deep_dream", "Mordvintsev, Olah & Tyka 2015 (Inceptionism, Google Research blog)", ("004",), "gradient ascent on a real image over octaves with random jitter", {},
     "Ascends the mean square of a layer's activations; normalised gradient steps, jitter, octave scale 1.4."),
    ("fgsm", "Goodfellow, Shlens & Szegedy 2015 (ICLR), Explaining and Harnessing Adversarial Examples", ("004",), None,
     {"adversarial_epsilon": 0.03, "adversarial_alpha": 0.5},
     "x_adv = clip(x + ε·sign ∇_x J) with ε a fraction of the pixel range (0.007 of 0..255 is the panda's ≈ 1.8 grey levels). Trains adversarially with J̃ = αJ(x) + (1 − α)J(x_adv), α = 0.5; ε = 0.03 here (shapes need a larger ε than ImageNet to be fooled)."),
    ("adversarial_sticker", "Brown, Mané, Roy, Abadi & Gilmer 2017 (adversarial patch); Eykholt et al. 2018 (CVPR, RP2)", ("004",), "an optimisation of the sticker's content over many steps under random placements", {},
     "One universal sticker optimised under an expectation over transformations (position, scale, rotation, brightness)."),
)


# The graph form of a gradient method holds TensorFlow's gradient kernels (ReluGrad, MaxPoolGrad,
# the cross-entropy's gradient): SavedModel serves them; tf2onnx has no ONNX op for them and they
# are not TFLite builtins (Flex only, which the project does not ship).
_GRADIENT_KERNELS = (
    "the endpoint back-propagates through the classifier inside the graph; its gradient kernels "
    "(ReluGrad, MaxPoolGrad, {extra}) have no ONNX op in tf2onnx and are not TFLite builtins (Flex "
    "only); SavedModel serves it, and the classifier itself exports to every format"
)
GRADIENT_METHODS = {"grad_cam": "BiasAddGrad", "saliency_map": "ShapeN", "fgsm": "SparseSoftmaxCrossEntropyWithLogits"}


def _method_limitations(name, what):
    if what is None:
        if name in GRADIENT_METHODS:
            reason = _GRADIENT_KERNELS.format(extra=GRADIENT_METHODS[name])
            return {"onnx": reason, "tflite": reason}
        return {}
    reason = _NOT_A_GRAPH.format(what=what)
    return {"savedmodel": reason, "onnx": reason, "tflite": reason}


for _name, _paper, _seeds, _what, _extra, _notes in METHOD_ROWS:
    _canonical = dict(input_shape=(224, 224, 3), num_classes=1000, **VGG16_GAP) if _name == "cam" else dict(input_shape=(32, 32, 3), num_classes=10, **SHAPES_CNN)
    register(
        ModelSpec(
            name=_name,
            family="interpretability",
            task="explanation",
            builder=ExplainedCNN,
            canonical_config=dict(**_canonical, method=_name, **_extra),
            tiny_config=dict(input_shape=(16, 16, 3), num_classes=4, **TINY_CNN, method=_name, value_range=(0.0, 1.0), **_extra),
            reference_params=20_459_304 if _name == "cam" else None,
            reference_source="B: VGG-16 conv1_1..conv5_3 (14,714,688) + conv 3×3 512→1024 (4,719,616) + FC 1024→1000 (1,025,000)" if _name == "cam" else "",
            paper=_paper,
            seeds=_seeds,
            limitations=_method_limitations(_name, _what),
            default_dataset="shapes10",
            train_recipe=_TRAIN,
            notes=_notes,
            inputs=IMAGE,
            outputs=(TensorSpec("probabilities", (None,)),) + ((TensorSpec(ENDPOINT_OUTPUTS[_name], (None, None, 3) if _name == "fgsm" else (None, None)),) if _name in ENDPOINT_OUTPUTS else ()),
            export_endpoint=(
                f"probabilities and the {ENDPOINT_OUTPUTS[_name]} of the predicted class" if _name in ENDPOINT_OUTPUTS else "none (see limitations)"
            ),
        )
    )

register(
    ModelSpec(
        name="two_head_localizer",
        family="interpretability",
        task="localization",
        builder=TwoHeadLocalizer,
        canonical_config=dict(input_shape=(32, 32, 3), num_classes=10),
        tiny_config=dict(input_shape=(16, 16, 3), num_classes=4, filters=(8, 16), convs_per_stage=1, batch_norm=False, hidden_units=16),
        paper="Sermanet, Eigen, Zhang, Mathieu, Fergus & LeCun 2014 (ICLR), OverFeat (classification + localisation heads)",
        seeds=("000", "001", "003", "004"),
        default_dataset="shapes10_localization",
        train_recipe=dict(_TRAIN, epochs=15),
        notes=(
            "No parameter count: the notes give the form, not a network; backbone = the shapes CNN with BN. "
            "Boxes are normalised centre (x, y, w, h) through a sigmoid; box loss L2 (spec), α = 0.5 by default "
            "(`benchmarks/bench_interpretability.py` sweeps it). 003's p_c output and conditional mask are included."
        ),
        inputs=IMAGE,
        outputs=(TensorSpec("probabilities", (None,)), TensorSpec("box", (4,)), TensorSpec("objectness", (1,))),
    )
)

for _name, _source, _paper, _seeds, _notes in (
    ("perception_visualization", "feature_map", "Giulivi & Boracchi 2022 (arXiv 2204.09920), Perception Visualization: Seeing Through the Eyes of a DNN", ("000", "001"),
     "Decodes the classifier's last conv map (before the classifier) with transposed convolutions; shown beside a saliency map by `deepzoo explain --method perception_visualization`."),
    ("feature_inversion_net", "feature_vector", "Dosovitskiy & Brox 2016 (CVPR), Inverting Visual Representations with Convolutional Networks", ("004",),
     "Decodes the pooled feature vector (Dense projection to the coarsest grid, then 5×5 stride-2 up-convolutions), pixel MSE."),
):
    register(
        ModelSpec(
            name=_name,
            family="interpretability",
            task="reconstruction",
            builder=FeatureDecoder,
            canonical_config=dict(input_shape=(32, 32, 3), **SHAPES_CNN, source=_source, decoder_filters=(64, 32)),
            tiny_config=dict(input_shape=(16, 16, 3), **TINY_CNN, source=_source, decoder_filters=(8,), value_range=(0.0, 1.0)),
            paper=_paper,
            seeds=_seeds,
            default_dataset="shapes10",
            train_recipe=dict(_TRAIN, epochs=15),
            notes=_notes + " The encoder is frozen: pass `--set classifier_path=RUN` (an ExplainedCNN run) to invert a trained classifier.",
            inputs=IMAGE,
            outputs=(TensorSpec("output", (None, None, 3)),),
        )
    )
