"""Image captioning and visual question answering (family H, multimodal rows).

Papers:
    image_captioning            Vinyals, Toshev, Bengio & Erhan 2015 (CVPR), "Show and tell": a CNN
                                image embedding is the LSTM's first input, then the words; LSTM
                                and word embeddings of 512; beam size 3 at inference.
    image_captioning_attention  Xu et al. 2015 (ICML), "Show, attend and tell": conv feature grid
                                a_i (VGG conv5: 14×14×512) as annotations; soft attention
                                α_ti = softmax_i(w·tanh(W_a a_i + W_h h_{t−1})); ẑ_t = β_t Σ_i α_ti a_i
                                with the gating scalar β_t = σ(f_β(h_{t−1})); LSTM input
                                [E y_{t−1}; ẑ_t]; deep output L_o(E y_{t−1} + L_h h_t + L_z ẑ_t);
                                h_0, c_0 from the mean annotation; doubly stochastic regulariser
                                λ Σ_i (1 − Σ_t α_ti)².
    vqa                         Antol et al. 2015 (ICCV), "deeper LSTM Q + norm I": VGG fc7 (4096)
                                → L2 normalisation → Dense 1024 tanh; question: embedding 300 (tanh)
                                → 2-layer LSTM 512 → [c1; h1; c2; h2] 2048 → Dense 1024 tanh;
                                element-wise product; MLP 1000, 1000 (tanh, dropout 0.5) → softmax
                                over the 1000 most frequent answers.

The CNN encoders are VGG-style stacks ((filters, convs) per stage, 3×3 convs, 2×2 max-pool); the
canonical configs use VGG-16 (captioning, VQA) and VGG-19's conv5_4 grid (attention). Weights
are random or trained here (the project downloads nothing). Pixels (0..255) are rescaled inside
the models.

Captioners implement the decoding protocol of `tasks/text.py` (encode / decode_step over the
target vocabulary) with an `LSTMCell` unrolled in Python: the training graph, greedy decoding and
beam search share the same layers, and the step graph holds no TensorList (ONNX and TFLite
convert it). Training input: {"image", "decoder_ids" int32 [N, caption_length]} (teacher forcing).
"""

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks.text import TARGET_SPECIALS, check_vocabulary, placeholder_vocabulary

VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
VGG19_STAGES = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))
TINY_STAGES = ((8, 1), (16, 1))


def _conv_stages(x, stages, name, pool_last=True):
    for s, (filters, convs) in enumerate(stages):
        for c in range(int(convs)):
            x = keras.layers.Conv2D(int(filters), 3, padding="same", activation="relu", name=f"{name}_conv{s + 1}_{c + 1}")(x)
        if pool_last or s < len(stages) - 1:
            x = keras.layers.MaxPooling2D(2, name=f"{name}_pool{s + 1}")(x)
    return x


def _image_input(image_size, channels):
    image = keras.Input((int(image_size), int(image_size), int(channels)), name="image")
    return image, keras.layers.Rescaling(1.0 / 255.0, name="rescale")(image)


def _vector_encoder(image_size, channels, stages, fc_units, name):
    """VGG-style CNN → flatten → fully connected layers (fc6, fc7): the image vector v."""
    image, x = _image_input(image_size, channels)
    x = _conv_stages(x, stages, name)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    for i, units in enumerate(fc_units):
        x = keras.layers.Dense(int(units), activation="relu", name=f"{name}_fc{i + 6}")(x)
    return keras.Model(image, x, name=name)


@keras.saving.register_keras_serializable(package="deepzoo")
class VQA(ZooModel):
    """Deeper LSTM Q + norm I: {"image", "question_ids"} → answer probabilities [N, num_classes]."""

    def __init__(
        self,
        image_size=224,
        channels=3,
        conv_stages=VGG16_STAGES,
        fc_units=(4096, 4096),
        vocabulary_size=14_770,
        question_length=26,
        embedding_dim=300,
        lstm_units=512,
        lstm_layers=2,
        fusion_units=1024,
        mlp_units=(1000, 1000),
        dropout=0.5,
        num_classes=1000,
        name="vqa",
        **kwargs,
    ):
        if int(lstm_layers) < 1 or int(num_classes) < 2:
            raise ValueError(f"Expected lstm_layers >= 1 and num_classes >= 2. Received: lstm_layers={lstm_layers}, num_classes={num_classes}")
        encoder = _vector_encoder(image_size, channels, conv_stages, fc_units, "image_encoder")
        image = keras.Input((int(image_size), int(image_size), int(channels)), name="image")
        question = keras.Input((int(question_length),), dtype="int32", name="question_ids")
        v = keras.layers.UnitNormalization(name="norm_i")(encoder(image))
        v = keras.layers.Dense(int(fusion_units), activation="tanh", name="image_projection")(v)
        words = keras.layers.Embedding(int(vocabulary_size), int(embedding_dim), mask_zero=True, name="word_embedding")(question)
        words = keras.layers.Activation("tanh", name="embedding_tanh")(words)
        states = []
        sequence = words
        for layer in range(int(lstm_layers)):
            # Unrolled over the fixed question length: plain ops that every export format converts.
            sequence, h, c = keras.layers.LSTM(
                int(lstm_units), return_sequences=True, return_state=True, unroll=True, use_cudnn=False, name=f"question_lstm{layer + 1}"
            )(sequence)
            states += [c, h]
        q = keras.layers.Concatenate(name="question_state")(states)
        q = keras.layers.Dense(int(fusion_units), activation="tanh", name="question_projection")(q)
        x = keras.layers.Multiply(name="fusion")([v, q])
        for i, units in enumerate(mlp_units):
            x = keras.layers.Dropout(float(dropout))(x)
            x = keras.layers.Dense(int(units), activation="tanh", name=f"mlp{i + 1}")(x)
        x = keras.layers.Dropout(float(dropout))(x)
        probabilities = keras.layers.Dense(int(num_classes), activation="softmax", name="answer")(x)
        super().__init__(inputs={"image": image, "question_ids": question}, outputs=probabilities, name=name, **kwargs)
        self.question_length = int(question_length)


# --- captioning ----------------------------------------------------------------------------------


class _Captioner(ZooModel):
    """Shared decoding protocol of both captioners (see `tasks/captioning.py`)."""

    has_attention = False

    def _setup_vocabulary(self, target_vocabulary, target_vocabulary_size):
        if target_vocabulary is None:
            target_vocabulary = placeholder_vocabulary(int(target_vocabulary_size), TARGET_SPECIALS)
        target_vocabulary = check_vocabulary(target_vocabulary, TARGET_SPECIALS, "target_vocabulary")
        if len(target_vocabulary) != int(target_vocabulary_size):
            raise ValueError(
                f"target_vocabulary has {len(target_vocabulary)} tokens but target_vocabulary_size={target_vocabulary_size}."
            )
        return target_vocabulary

    @property
    def target_vocabulary(self):
        return self._target_vocabulary

    @property
    def max_output_length(self):
        return self.caption_length


@keras.saving.register_keras_serializable(package="deepzoo")
class ShowAndTell(_Captioner):
    """Show and tell: image embedding as the LSTM's first input, then [start] w_1 .. w_T.

    Inputs {"image" float32 [N, S, S, C] 0..255, "decoder_ids" int32 [N, L]} → logits [N, L, V]
    (the word after each decoder input).
    """

    def __init__(
        self,
        image_size=224,
        channels=3,
        conv_stages=VGG16_STAGES,
        fc_units=(4096, 4096),
        embedding_dim=512,
        lstm_units=512,
        caption_length=16,
        target_vocabulary=None,
        target_vocabulary_size=10_000,
        dropout=0.5,
        name="image_captioning",
        **kwargs,
    ):
        self._target_vocabulary = self._setup_vocabulary(target_vocabulary, target_vocabulary_size)
        vocabulary = int(target_vocabulary_size)
        self.encoder = _vector_encoder(image_size, channels, conv_stages, fc_units, "image_encoder")
        self.image_embedding = keras.layers.Dense(int(embedding_dim), name="image_embedding")
        self.word_embedding = keras.layers.Embedding(vocabulary, int(embedding_dim), name="word_embedding")
        # One LSTM layer for training (a single recurrent op to trace); decoding steps its cell.
        self.lstm = keras.layers.LSTM(int(lstm_units), return_sequences=True, use_cudnn=False, name="lstm")
        self.dropout_layer = keras.layers.Dropout(float(dropout))
        self.classifier = keras.layers.Dense(vocabulary, name="word_logits")
        image = keras.Input((int(image_size), int(image_size), int(channels)), name="image")
        decoder_ids = keras.Input((int(caption_length),), dtype="int32", name="decoder_ids")
        v = self.image_embedding(self.encoder(image))
        # x_{-1} = CNN(I), then the words: the image is seen once, first (Vinyals et al.).
        sequence = keras.layers.Concatenate(axis=1, name="image_then_words")(
            [keras.layers.Reshape((1, int(embedding_dim)))(v), self.word_embedding(decoder_ids)]
        )
        hidden = self.lstm(sequence)[:, 1:, :]
        logits = self.classifier(self.dropout_layer(hidden))
        super().__init__(inputs={"image": image, "decoder_ids": decoder_ids}, outputs=logits, name=name, **kwargs)
        self.caption_length = int(caption_length)
        self.lstm_units = int(lstm_units)

    def _encode(self, image):
        v = self.image_embedding(self.encoder(image))
        zeros = ops.repeat(ops.zeros_like(v[:, :1]), self.lstm.cell.units, axis=1)
        _, state = self.lstm.cell(v, [zeros, zeros])  # x_{-1} = CNN(I): the image is seen once, first
        return {}, list(state)

    def encode(self, image, portable=True):
        return self._encode(ops.convert_to_tensor(image, "float32"))

    def decode_step(self, previous_ids, state, memory):
        h, state = self.lstm.cell(self.word_embedding(ops.cast(previous_ids, "int32")), list(state))
        return self.classifier(h), list(state), None


@keras.saving.register_keras_serializable(package="deepzoo")
class AttentiveFeatures(keras.layers.Layer):
    """Soft attention of Show, attend and tell: α = softmax_i(w·tanh(W_a a_i + W_h h)), ẑ = β Σ α_i a_i."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.annotation_projection = keras.layers.Dense(self.units, name="w_a")
        self.hidden_projection = keras.layers.Dense(self.units, use_bias=False, name="w_h")
        self.score = keras.layers.Dense(1, name="w")
        self.gate = keras.layers.Dense(1, activation="sigmoid", name="beta")

    def build(self, annotations_shape, hidden_shape, projected_shape=None):
        for layer, shape in (
            (self.annotation_projection, annotations_shape), (self.hidden_projection, hidden_shape),
            (self.score, (None, None, self.units)), (self.gate, hidden_shape),
        ):
            if not layer.built:
                layer.build(shape)

    def call(self, annotations, hidden, projected=None):
        projected = self.annotation_projection(annotations) if projected is None else projected
        scores = self.score(ops.tanh(projected + ops.expand_dims(self.hidden_projection(hidden), 1)))[..., 0]
        alpha = ops.softmax(scores, axis=-1)
        context = ops.sum(ops.expand_dims(alpha, -1) * annotations, axis=1)
        return self.gate(hidden) * context, alpha

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="deepzoo")
class DoublyStochasticPenalty(keras.layers.Layer):
    """Adds λ Σ_i (1 − Σ_t α_ti)² (batch mean) to the model's losses; passes the logits through (so
    that the penalty sits on the path to the model's output)."""

    def __init__(self, weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.weight = float(weight)

    def call(self, logits, alphas):
        if self.weight:
            self.add_loss(self.weight * ops.mean(ops.sum(ops.square(1.0 - ops.sum(alphas, axis=1)), axis=-1)))
        return logits

    def compute_output_shape(self, logits_shape, alphas_shape):
        return logits_shape

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


@keras.saving.register_keras_serializable(package="deepzoo")
class ShowAttendTell(_Captioner):
    """Show, attend and tell (soft attention): {"image", "decoder_ids"} → logits [N, L, V].

    `alignments(image, decoder_ids)` gives α [N, L, h·w] for the attention maps.
    """

    has_attention = True

    def __init__(
        self,
        image_size=224,
        channels=3,
        conv_stages=VGG19_STAGES,
        embedding_dim=512,
        lstm_units=1800,
        attention_units=512,
        caption_length=16,
        target_vocabulary=None,
        target_vocabulary_size=10_000,
        doubly_stochastic_weight=1.0,
        dropout=0.5,
        name="image_captioning_attention",
        **kwargs,
    ):
        self._target_vocabulary = self._setup_vocabulary(target_vocabulary, target_vocabulary_size)
        vocabulary = int(target_vocabulary_size)
        image, pixels = _image_input(image_size, channels)
        grid = _conv_stages(pixels, conv_stages, "image_encoder", pool_last=False)  # conv5_4: no last pool
        self.encoder = keras.Model(image, grid, name="image_encoder")
        self.grid_shape = tuple(int(d) for d in grid.shape[1:3])
        self.word_embedding = keras.layers.Embedding(vocabulary, int(embedding_dim), name="word_embedding")
        self.attention = AttentiveFeatures(int(attention_units), name="soft_attention")
        self.init_h = keras.layers.Dense(int(lstm_units), activation="tanh", name="init_h")
        self.init_c = keras.layers.Dense(int(lstm_units), activation="tanh", name="init_c")
        self.cell = keras.layers.LSTMCell(int(lstm_units), name="lstm")
        self.out_hidden = keras.layers.Dense(int(embedding_dim), name="l_h")
        self.out_context = keras.layers.Dense(int(embedding_dim), name="l_z")
        self.dropout_layer = keras.layers.Dropout(float(dropout))
        self.classifier = keras.layers.Dense(vocabulary, name="l_o")
        self.penalty = DoublyStochasticPenalty(doubly_stochastic_weight, name="doubly_stochastic")
        image = keras.Input((int(image_size), int(image_size), int(channels)), name="image")
        decoder_ids = keras.Input((int(caption_length),), dtype="int32", name="decoder_ids")
        memory, state = self._encode(image)
        logits, alphas = [], []
        for t in range(int(caption_length)):
            step_logits, state, alpha = self.decode_step(decoder_ids[:, t], state, memory, training_graph=True)
            logits.append(step_logits)
            alphas.append(alpha)
        alphas = keras.layers.Lambda(lambda parts: ops.stack(parts, axis=1), name="stack_alphas")(alphas)
        logits = keras.layers.Lambda(lambda parts: ops.stack(parts, axis=1), name="stack_logits")(logits)
        logits = self.penalty(logits, alphas)
        super().__init__(inputs={"image": image, "decoder_ids": decoder_ids}, outputs=logits, name=name, **kwargs)
        self.alignment_model = keras.Model({"image": image, "decoder_ids": decoder_ids}, alphas, name="alignments")
        self.caption_length = int(caption_length)

    def _encode(self, image):
        grid = self.encoder(image)
        annotations = ops.reshape(grid, (-1, grid.shape[1] * grid.shape[2], grid.shape[3]))
        mean = ops.mean(annotations, axis=1)
        memory = {"annotations": annotations, "projected": self.attention.annotation_projection(annotations)}
        return memory, [self.init_h(mean), self.init_c(mean)]

    def encode(self, image, portable=True):
        return self._encode(ops.convert_to_tensor(image, "float32"))

    def decode_step(self, previous_ids, state, memory, training_graph=False):
        h, c = state
        context, alpha = self.attention(memory["annotations"], h, memory["projected"])
        words = self.word_embedding(ops.cast(previous_ids, "int32"))
        h, new_state = self.cell(ops.concatenate([words, context], axis=-1), [h, c])
        deep = words + self.out_hidden(h) + self.out_context(context)
        features = self.dropout_layer(deep) if training_graph else deep
        return self.classifier(features), list(new_state), alpha

    def alignments(self, image, decoder_ids):
        return self.alignment_model({"image": np.asarray(image, np.float32), "decoder_ids": np.asarray(decoder_ids, np.int32)}, training=False)


# --- registry --------------------------------------------------------------------------------------

VQA_TINY = {
    "image_size": 32, "channels": 3, "conv_stages": TINY_STAGES, "fc_units": (32,), "vocabulary_size": 40, "question_length": 12,
    "embedding_dim": 16, "lstm_units": 16, "lstm_layers": 2, "fusion_units": 32, "mlp_units": (32,), "dropout": 0.1, "num_classes": 15,
}
CAPTION_TINY = {
    "image_size": 32, "channels": 3, "conv_stages": TINY_STAGES, "fc_units": (32,), "embedding_dim": 16, "lstm_units": 32,
    "caption_length": 10, "target_vocabulary_size": 24, "dropout": 0.1,
}
ATTENTION_TINY = {
    "image_size": 32, "channels": 3, "conv_stages": ((8, 1), (16, 1), (16, 1)), "embedding_dim": 16, "lstm_units": 32, "attention_units": 16,
    "caption_length": 10, "target_vocabulary_size": 24, "doubly_stochastic_weight": 1.0, "dropout": 0.1,
}
_IMAGE = TensorSpec("image", (32, 32, 3))


def _vqa_example_batch(config, seed, n=8):
    """Random scenes and questions (ids of 3..length words) with answers in turn."""
    rng = np.random.default_rng(seed)
    size, length = int(config["image_size"]), int(config["question_length"])
    ids = np.zeros((n, length), np.int32)
    for row in ids:
        words = int(rng.integers(3, length + 1))
        row[:words] = rng.integers(2, int(config["vocabulary_size"]), size=words)
    x = {"image": rng.uniform(0.0, 255.0, size=(n, size, size, int(config["channels"]))).astype("float32"), "question_ids": ids}
    return x, (np.arange(n) % int(config["num_classes"])).astype("int32")

register(
    ModelSpec(
        name="vqa",
        family="sequence",
        task="classification",
        builder=VQA,
        canonical_config={},
        tiny_config=VQA_TINY,
        paper="Antol, Agrawal, Lu, Mitchell, Batra, Zitnick & Parikh 2015 (ICCV), VQA: Visual Question Answering",
        seeds=("003",),
        default_dataset="shapes_vqa",
        example_batch=_vqa_example_batch,
        inputs=(_IMAGE, TensorSpec("question_ids", (12,), "int32")),
        outputs=(TensorSpec("output", (15,)),),
        notes=(
            "Deeper LSTM Q + norm I at the paper's widths (VGG-16 fc7 4096, embedding 300, 2×LSTM 512, fusion 1024, "
            "MLP 1000×2, 1000 answers); the VGG is trained here, not ImageNet-pretrained. Questions are token ids under "
            "the shapes data's closed template vocabulary (pipelines/sources_multimodal.VOCABULARY). The LSTMs are "
            "unrolled over the fixed question length so every export format converts them."
        ),
    )
)

register(
    ModelSpec(
        name="image_captioning",
        family="sequence",
        task="captioning",
        builder=ShowAndTell,
        canonical_config={},
        tiny_config=CAPTION_TINY,
        paper="Vinyals, Toshev, Bengio & Erhan 2015 (CVPR), Show and tell: A neural image caption generator",
        seeds=("000", "002", "003", "004"),
        default_dataset="shapes_captions",
        inputs=(_IMAGE, TensorSpec("decoder_ids", (10,), "int32")),
        notes=(
            "Show and Tell with a VGG-16 encoder (the paper uses GoogLeNet/Inception; the notes name VGG-16 fc-4096), "
            "trained here from random weights. The image embedding is the LSTM's first input only (Vinyals); "
            "greedy decoding is exported, beam search (size 3) is the Python evaluation decoder."
        ),
    )
)

register(
    ModelSpec(
        name="image_captioning_attention",
        family="sequence",
        task="captioning",
        builder=ShowAttendTell,
        canonical_config={},
        tiny_config=ATTENTION_TINY,
        paper="Xu, Ba, Kiros, Cho, Courville, Salakhutdinov, Zemel & Bengio 2015 (ICML), Show, attend and tell",
        seeds=("000", "003"),
        default_dataset="shapes_captions",
        inputs=(_IMAGE, TensorSpec("decoder_ids", (10,), "int32")),
        notes=(
            "Soft (deterministic) attention with the MLP score, gating scalar β, deep output layer and the doubly "
            "stochastic regulariser (λ = 1). Canonical: VGG-19 conv5_4 grid (14×14×512 at 224 px), LSTM 1800, "
            "embedding 512 as in the paper's Flickr/COCO setup; trained here from random weights."
        ),
    )
)
