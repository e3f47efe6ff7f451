"""1-D convolutional sequence models of family H: Kim's CNN for sentences and Hannun's ECG ResNet.

References:
    conv1d_sequence  Kim, "Convolutional neural networks for sentence classification", EMNLP 2014:
                     word embeddings (300-d) → Conv1D of widths 3, 4, 5 with 100 filters each (ReLU)
                     → max-over-time pooling → dropout 0.5 → softmax, with an l2 max-norm of 3 on
                     the softmax weights. CNN-rand: the embeddings are learned. Sentences are padded
                     with width − 1 zero vectors at both ends (Kim's code), so every word sits in
                     every filter position and short sentences still fit the widest filter.
    ecg_1d_cnn       Hannun et al., "Cardiologist-level arrhythmia detection and classification in
                     ambulatory electrocardiograms using a deep neural network", Nature Medicine 2019
                     (and its code, awni/ecg): 33 convolutions of length 16 + one Dense layer. A first
                     conv (32 filters), BN, ReLU; 16 residual blocks of two convs, pre-activation
                     (BN → ReLU → dropout 0.2 → conv, the very first BN/ReLU skipped), the first conv
                     of every other block subsamples by 2 (the shortcut max-pools by 2), filters
                     32·2^⌊k/4⌋ (32 → 256, the shortcut zero-pads the new channels); BN, ReLU, and a
                     softmax every output step (one per 256 samples at 200 Hz after 8 halvings).
                     Registry: the per-step softmax is averaged over time into one rhythm class per
                     record (PhysioNet/CinC 2017's class set {Normal, AF, Other, Noisy}).

Block tables are data below; both models are functional `ZooModel`s.
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from architectures.sequence.recurrent import TOKEN_INPUT, _vocabulary
from tasks import TensorSpec

# Kim 2014 §2.1/§3.1: filter windows and feature maps per window, embedding size, dropout, max-norm.
KIM_WINDOWS = (3, 4, 5)
KIM_FILTERS = 100
KIM_EMBEDDING = 300
KIM_DROPOUT = 0.5
KIM_MAX_NORM = 3.0
KIM_MR_VOCABULARY = 18_765  # Table 1: |V| of MR (movie reviews), 2 classes

# Hannun et al. 2019 (awni/ecg config): per block, the stride of its first conv.
HANNUN_SUBSAMPLE = (1, 2) * 8  # 16 residual blocks, 8 halvings: one output per 2^8 = 256 samples
HANNUN_KERNEL = 16
HANNUN_FILTERS_START = 32
HANNUN_INCREASE_EVERY = 4  # filters double every 4 blocks: 32, 64, 128, 256
HANNUN_DROPOUT = 0.2
CINC2017_CLASSES = ("Normal", "AF", "Other", "Noisy")


@keras.saving.register_keras_serializable(package="deepzoo")
class ZeroPadChannels(keras.layers.Layer):
    """Appends as many zero channels as the input has (Hannun's shortcut when filters double)."""

    def call(self, x):
        return ops.concatenate([x, ops.zeros_like(x)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], None if input_shape[-1] is None else 2 * input_shape[-1])


@keras.saving.register_keras_serializable(package="deepzoo")
class KimCNN(ZooModel):
    """Kim's sentence CNN (CNN-rand): token ids → Embedding → zero-pad (width − 1 each side) →
    Conv1D per window (ReLU) → global max over time → concat → dropout → Dense softmax (max-norm)."""

    def __init__(self, vocabulary_size=KIM_MR_VOCABULARY, num_classes=2, embedding_dim=KIM_EMBEDDING,
                 windows=KIM_WINDOWS, filters=KIM_FILTERS, dropout=KIM_DROPOUT, max_norm=KIM_MAX_NORM,
                 sequence_length=None, vocabulary=None, name=None, **kwargs):
        vocabulary = _vocabulary(vocabulary, vocabulary_size)
        inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
        x = keras.layers.Embedding(len(vocabulary), embedding_dim, name="embedding")(inputs)
        x = keras.layers.ZeroPadding1D(max(windows) - 1, name="sentence_padding")(x)
        pooled = []
        for width in windows:
            feature = keras.layers.Conv1D(filters, width, activation="relu", name=f"conv_w{width}")(x)
            pooled.append(keras.layers.GlobalMaxPooling1D(name=f"max_over_time_w{width}")(feature))
        x = keras.layers.Concatenate(name="features")(pooled) if len(pooled) > 1 else pooled[0]
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        constraint = keras.constraints.MaxNorm(max_norm) if max_norm else None
        outputs = keras.layers.Dense(num_classes, activation="softmax", kernel_constraint=constraint, name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name or "kim_cnn", **kwargs)
        self.vocabulary = vocabulary
        self.sequence_length = sequence_length


def _bn_relu(x, name, dropout=0.0):
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


@keras.saving.register_keras_serializable(package="deepzoo")
class ECGResNet(ZooModel):
    """Hannun et al.'s 34-layer 1-D ResNet (module docstring); one rhythm class per record.

    Args:
        input_shape: (samples, leads); samples may be None.
        num_classes: rhythm classes (CinC 2017: 4).
        subsample_lengths: stride of each residual block's first conv (its length = block count).
        kernel_size, filters_start, increase_every, dropout: the paper's conv settings.
    """

    def __init__(self, input_shape=(None, 1), num_classes=4, subsample_lengths=HANNUN_SUBSAMPLE,
                 kernel_size=HANNUN_KERNEL, filters_start=HANNUN_FILTERS_START,
                 increase_every=HANNUN_INCREASE_EVERY, dropout=HANNUN_DROPOUT, name=None, **kwargs):
        inputs = keras.Input(shape=tuple(input_shape), name="ecg")
        conv = lambda filters, stride, name: keras.layers.Conv1D(  # noqa: E731
            filters, kernel_size, strides=stride, padding="same", kernel_initializer="he_normal", name=name
        )
        x = conv(filters_start, 1, "stem_conv")(inputs)
        x = _bn_relu(x, "stem")
        for index, stride in enumerate(subsample_lengths):
            filters = filters_start * 2 ** (index // increase_every)
            block = f"block{index + 1}"
            shortcut = keras.layers.MaxPooling1D(stride, padding="same", name=f"{block}_shortcut_pool")(x) if stride > 1 else x
            if index > 0 and index % increase_every == 0:
                shortcut = ZeroPadChannels(name=f"{block}_shortcut_pad")(shortcut)
            if index > 0:  # the first block starts from the stem's BN/ReLU
                x = _bn_relu(x, f"{block}_a")
            x = conv(filters, stride, f"{block}_conv_a")(x)
            x = _bn_relu(x, f"{block}_b", dropout)
            x = conv(filters, 1, f"{block}_conv_b")(x)
            x = keras.layers.Add(name=f"{block}_add")([shortcut, x])
        x = _bn_relu(x, "head")
        steps = keras.layers.Dense(num_classes, activation="softmax", name="step_predictions")(x)
        outputs = keras.layers.GlobalAveragePooling1D(name="record_prediction")(steps)
        super().__init__(inputs=inputs, outputs=outputs, name=name or "ecg_resnet", **kwargs)


def kim_parameter_count(vocabulary_size, num_classes, embedding_dim=KIM_EMBEDDING, windows=KIM_WINDOWS, filters=KIM_FILTERS, **_):
    convs = sum(width * embedding_dim * filters + filters for width in windows)
    return vocabulary_size * embedding_dim + convs + (len(windows) * filters + 1) * num_classes


register(
    ModelSpec(
        name="conv1d_sequence",
        family="sequence",
        task="text_classification",
        builder=KimCNN,
        # A fixed padded length, as Kim's code pads MR sentences (max_l = 56): without masking,
        # max-over-time sees the padding, so a per-batch width would make a sentence's scores
        # depend on the other sentences of its batch. The sentiment corpus' longest sentence has 16 words.
        canonical_config=dict(vocabulary_size=KIM_MR_VOCABULARY, num_classes=2, sequence_length=56),
        tiny_config=dict(vocabulary_size=64, num_classes=2, embedding_dim=8, windows=(3, 4, 5), filters=4, sequence_length=16),
        reference_params=kim_parameter_count(KIM_MR_VOCABULARY, 2),
        reference_source="B (counted from §2 at MR's |V| = 18,765 (Table 1), 300-d embeddings, 3 × 100 filters, 2 classes; the paper prints no total)",
        paper="Kim 2014, EMNLP (arXiv 1408.5882)", seeds=("000",),
        default_dataset="sentiment",
        # Kim: Adadelta (ρ = 0.95), mini-batches of 50, early stopping on a dev set.
        train_recipe=dict(optimizer="adam", learning_rate=1e-2, batch_size=50, epochs=15),
        inputs=TOKEN_INPUT,
        outputs=(TensorSpec("probabilities", (None,), "float32"),),
        notes=(
            "CNN-rand (learned embeddings; the word2vec-initialised variants need pretrained vectors, which are offline "
            "here). The spec's signal form (stacked Conv1D + pooling, TDNN) is ecg_1d_cnn."
        ),
    )
)

register(
    ModelSpec(
        name="ecg_1d_cnn",
        family="sequence",
        task="classification",
        builder=ECGResNet,
        canonical_config=dict(input_shape=(None, 1), num_classes=len(CINC2017_CLASSES)),
        # Two blocks cover the three block kinds: the first (no pre-activation), a subsampling one, one that
        # widens. No dropout: its random ops were measured to double the XLA column's compile time.
        tiny_config=dict(input_shape=(128, 1), num_classes=4, subsample_lengths=(1, 2), filters_start=4, increase_every=1, dropout=0.0),
        reference_params=10_473_892,
        reference_source="B (count_params of this build of the awni/ecg configuration, BN statistics included, 4 classes; the paper prints no count)",
        paper="Hannun et al. 2019, Nature Medicine 25(1); awni/ecg", seeds=("004", "000"),
        default_dataset="ecg_rhythm",
        train_recipe=dict(optimizer="adam", learning_rate=1e-3, batch_size=32, epochs=15),
        inputs=(TensorSpec("ecg", (None, 1), "float32"),),
        outputs=(TensorSpec("output", (4,), "float32"),),
        notes=(
            "The per-step softmax (one output per 256 samples) is averaged over time into one record class. The paper "
            "(12 rhythm classes on a private Holter set) prints no parameter count; the canonical build uses the CinC "
            "2017 class set."
        ),
    )
)
