"""Neural architecture search with a recurrent controller, and the accuracy-regressor RNN.

Reference: Zoph & Le, "Neural architecture search with reinforcement learning", ICLR 2017. A
network is a sequence of tokens (lecture 004: "a network written as text"). A 2-layer LSTM
controller (35 units per layer) emits, for each child layer, its filter height and width
∈ {1, 3, 5, 7}, number of filters ∈ {24, 36, 48, 64} and stride ∈ {1, 2, 3}, each prediction fed
back as the next input; at each layer's anchor point it decides the skip connections from every
earlier layer with a sigmoid attention P(j → i) = σ(vᵀ tanh(W_prev·h_j + W_curr·h_i)). The
controller is trained with REINFORCE: ∇J ≈ (1/m) Σ_k Σ_t ∇ log P(a_t | a_<t) · (R_k − b), R the
validation accuracy of the trained child and b an exponential moving average of past rewards.
Lecture 004's first idea, an RNN that regresses a given network's accuracy from its tokenised
description, is `AccuracyRegressor`.

Pure Keras: every piece is a functional model, and REINFORCE is a weighted cross-entropy step
(`train_on_batch(actions, actions, sample_weight=R − b)`), so any backend runs it.

- `NASController` (registry `nas_controller`): teacher-forced policy. Input: the action sequence
  (the chosen index at every step); output: P(a_t | a_<t) for every step, shape (T, V) (choices
  padded to V with probability 0). The hyper-parameter steps come first (per layer: the search
  space's tokens, then an anchor step), then one Bernoulli step per (layer i, earlier layer j)
  pair, P = [1 − σ(a_ij), σ(a_ij)]. `sample()` draws new architectures step by step, `decode()`
  turns actions into a child description.
- `ReinforceTrainer`: the REINFORCE update with the moving-average baseline; `search()` runs the
  loop with any reward function, `child_accuracy_reward()` builds the paper's reward.
- `NASChildNet` (registry `nas_child_net`): the CNN of a description (conv-BN-ReLU layers; a layer
  with several inputs concatenates them, zero-padding smaller maps; the layers nobody reads are
  concatenated before global pooling and the softmax), 32×32×3 → 10.
- `AccuracyRegressor` (registry `nas_accuracy_regressor`): embedding → LSTM → sigmoid over the
  tokens of a Caffe-prototxt-style description (`describe_prototxt`, `tokenize_description`).
"""

import re

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.layers.conv import conv_bn_act, scaled_width
from architectures.layers.heads import classifier_head
from architectures.layers.heads import record_pyramid
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register

# Token types the controller emits for each child layer, in order, with their choices.
NAS_SEARCH_SPACE = (
    ("filter_height", (1, 3, 5, 7)),
    ("filter_width", (1, 3, 5, 7)),
    ("filters", (24, 36, 48, 64)),
    ("stride", (1, 2, 3)),
)
_MASKED = -1e9


# --- the controller's sequence layout ------------------------------------------------------------


class ControllerLayout:
    """Where every decision sits in the controller's step sequence.

    Steps 0 … T_rnn − 1 run through the LSTM: per child layer one step per search-space token type,
    then (with skip connections) an anchor step. Steps T_rnn … T − 1 are the skip decisions, one
    per pair (i, j), j < i, in the order of `pairs`.
    """

    def __init__(self, num_layers, search_space, skip_connections):
        self.num_layers = int(num_layers)
        self.search_space = tuple((str(name), tuple(choices)) for name, choices in search_space)
        self.skip_connections = bool(skip_connections)
        types = len(self.search_space)
        self.anchor_type = types  # type id of anchor steps
        per_layer = list(range(types)) + ([self.anchor_type] if self.skip_connections else [])
        self.step_types = per_layer * self.num_layers
        self.rnn_steps = len(self.step_types)
        self.anchor_steps = (
            [i * len(per_layer) + types for i in range(self.num_layers)] if self.skip_connections else []
        )
        self.pairs = [(i, j) for i in range(self.num_layers) for j in range(i)] if self.skip_connections else []
        self.steps = self.rnn_steps + len(self.pairs)
        self.choice_counts = [len(choices) for _, choices in self.search_space]
        self.width = max(self.choice_counts + ([2] if self.pairs else []))
        # Input vocabulary: 0 = start token, then each type's choices, then the anchor token.
        self.offsets = list(np.cumsum([1] + self.choice_counts))
        self.vocabulary = int(self.offsets[-1]) + 1

    def valid_choices(self, step):
        """Number of valid choices at `step` (1 for anchor steps, 2 for skip decisions)."""
        if step >= self.rnn_steps:
            return 2
        kind = self.step_types[step]
        return 1 if kind == self.anchor_type else self.choice_counts[kind]

    def decode(self, actions):
        """Child description (list of layer dicts) of one action sequence."""
        actions = [int(a) for a in np.asarray(actions).reshape(-1)]
        per_layer = len(self.search_space) + (1 if self.skip_connections else 0)
        layers = []
        for i in range(self.num_layers):
            layer = {
                name: int(choices[actions[i * per_layer + k]]) for k, (name, choices) in enumerate(self.search_space)
            }
            layer.setdefault("stride", 1)
            layer["inputs"] = []
            layers.append(layer)
        for index, (i, j) in enumerate(self.pairs):
            if actions[self.rnn_steps + index]:
                layers[i]["inputs"].append(j)
        return layers

    def encode(self, description):
        """Action sequence of a child description (the inverse of `decode`)."""
        actions = []
        for layer in description:
            for name, choices in self.search_space:
                actions.append(list(choices).index(layer[name]))
            if self.skip_connections:
                actions.append(0)
        for i, j in self.pairs:
            actions.append(int(j in description[i].get("inputs", [])))
        return np.asarray(actions, dtype="float32")


def _search_space(search_space):
    return NAS_SEARCH_SPACE if search_space is None else tuple((name, tuple(c)) for name, c in search_space)


# --- controller -----------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class NASController(ZooModel):
    """2-layer LSTM controller of Zoph & Le (2017), teacher-forced: actions (T,) → P(a_t | a_<t) (T, V).

    Args:
        num_layers: child layers described per sample (15 for the paper's first CIFAR-10 search).
        lstm_units: units per LSTM layer (35).
        lstm_layers: stacked LSTM layers (2).
        embedding_dim: input embedding width (`lstm_units` when None).
        search_space: [(token name, [choices]), ...]; filter height/width, filters and stride by
            default. A "stride" token is optional (stride 1 when absent).
        skip_connections: add the anchor steps and the sigmoid-attention skip decisions.

    The skip decisions are read from the anchor steps' hidden states and are not fed back into the
    LSTM (the step after an anchor reads a fixed anchor token), so one teacher-forced pass scores a
    whole sample; Zoph & Le feed the hyper-parameter predictions back, as here.
    """

    def __init__(
        self,
        num_layers=15,
        lstm_units=35,
        lstm_layers=2,
        embedding_dim=None,
        search_space=None,
        skip_connections=True,
        name="nas_controller",
        **kwargs,
    ):
        layout = ControllerLayout(num_layers, _search_space(search_space), skip_connections)
        steps, rnn_steps, width = layout.steps, layout.rnn_steps, layout.width
        actions = keras.Input(shape=(steps,), name="actions")
        # Token ids are computed in float32 and cast once: an int32 broadcast add becomes an int32
        # BiasAdd, which LiteRT lacks.
        previous_offsets = np.asarray([layout.offsets[kind] for kind in layout.step_types[:-1]], dtype="float32")
        previous = ops.round(actions[:, : rnn_steps - 1]) + ops.convert_to_tensor(previous_offsets[None, :])
        tokens = ops.cast(ops.concatenate([ops.zeros_like(actions[:, :1]), previous], axis=1), "int32")
        h = keras.layers.Embedding(layout.vocabulary, embedding_dim or lstm_units, name="token_embedding")(tokens)
        for index in range(lstm_layers):
            h = keras.layers.LSTM(lstm_units, return_sequences=True, unroll=True, name=f"lstm{index + 1}")(h)

        # One softmax classifier per token type; each step keeps the logits of its own type.
        step_logits = None
        for kind, (token_name, choices) in enumerate(layout.search_space):
            logits = keras.layers.Dense(len(choices), name=f"{token_name}_logits")(h)
            logits = ops.pad(logits, [[0, 0], [0, 0], [0, width - len(choices)]], constant_values=_MASKED)
            mask = np.asarray([[float(t == kind)] for t in layout.step_types], dtype="float32")[None]
            term = logits * ops.convert_to_tensor(mask)
            step_logits = term if step_logits is None else step_logits + term
        anchor_rows = np.zeros((1, rnn_steps, width), dtype="float32")
        for step in layout.anchor_steps:
            anchor_rows[0, step, 1:] = _MASKED  # a single valid choice: probability 1
        step_logits = step_logits + ops.convert_to_tensor(anchor_rows)

        if layout.pairs:
            anchors = ops.take(h, layout.anchor_steps, axis=1)
            previous_proj = keras.layers.Dense(lstm_units, use_bias=False, name="anchor_w_prev")(anchors)
            current_proj = keras.layers.Dense(lstm_units, use_bias=False, name="anchor_w_curr")(anchors)
            current_index = [i for i, _ in layout.pairs]
            previous_index = [j for _, j in layout.pairs]
            hidden = ops.tanh(
                ops.take(current_proj, current_index, axis=1) + ops.take(previous_proj, previous_index, axis=1)
            )
            attention = keras.layers.Dense(1, use_bias=False, name="anchor_v")(hidden)
            pair_logits = ops.concatenate([ops.zeros_like(attention), attention], axis=-1)
            pair_logits = ops.pad(pair_logits, [[0, 0], [0, 0], [0, width - 2]], constant_values=_MASKED)
            step_logits = ops.concatenate([step_logits, pair_logits], axis=1)
        outputs = keras.layers.Softmax(axis=-1, name="policy")(step_logits)
        super().__init__(inputs=actions, outputs=outputs, name=name, **kwargs)
        self.layout = layout

    def sample(self, count=1, seed=None, temperature=1.0):
        """Draws `count` architectures. Returns (actions float32 (count, T), descriptions)."""
        rng = np.random.default_rng(seed)
        layout = self.layout
        actions = np.zeros((count, layout.steps), dtype="float32")

        def draw(probabilities):
            if temperature != 1.0:
                probabilities = probabilities ** (1.0 / temperature)
            probabilities = probabilities / probabilities.sum(axis=-1, keepdims=True)
            cumulative = np.cumsum(probabilities, axis=-1)
            return np.minimum(
                (rng.random((len(probabilities), 1)) > cumulative).sum(axis=-1), probabilities.shape[-1] - 1
            )

        for step in range(layout.rnn_steps):
            valid = layout.valid_choices(step)
            if valid == 1:
                continue
            probabilities = np.asarray(self.predict_on_batch(actions))[:, step, :valid].astype("float64")
            actions[:, step] = draw(probabilities)
        if layout.pairs:
            probabilities = np.asarray(self.predict_on_batch(actions))[:, layout.rnn_steps :, :2].astype("float64")
            for index in range(len(layout.pairs)):
                actions[:, layout.rnn_steps + index] = draw(probabilities[:, index])
        return actions, [layout.decode(row) for row in actions]

    def decode(self, actions):
        return self.layout.decode(actions)

    def encode(self, description):
        return self.layout.encode(description)

    def log_probability(self, actions):
        """log P(actions) under the current policy, one value per row."""
        actions = np.asarray(actions, dtype="float32")
        probabilities = np.asarray(self(actions, training=False))
        chosen = np.take_along_axis(probabilities, actions.astype(int)[..., None], axis=-1)[..., 0]
        return np.log(np.maximum(chosen, 1e-30)).sum(axis=-1)


class ReinforceTrainer:
    """REINFORCE with an exponential-moving-average baseline (Williams 1992; Zoph & Le 2017 §3.2).

    `update(actions, rewards)` takes one policy-gradient step on
    L = −(1/(m·T)) Σ_k (R_k − b) Σ_t log P(a_kt | a_k,<t), written as the controller's sparse
    cross-entropy against its own actions weighted by the advantages R_k − b; then
    b ← decay·b + (1 − decay)·mean(R).
    """

    def __init__(self, controller, learning_rate=6e-4, baseline_decay=0.95, optimizer=None):
        self.controller = controller
        self.baseline_decay = float(baseline_decay)
        self.baseline = None
        controller.compile(
            optimizer=optimizer or keras.optimizers.Adam(learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            jit_compile=False,
        )

    def update(self, actions, rewards):
        rewards = np.asarray(rewards, dtype="float32").reshape(-1)
        if self.baseline is None:
            self.baseline = float(rewards.mean())
        advantages = rewards - self.baseline
        actions = np.asarray(actions, dtype="float32")
        # One weight per (sample, step): Keras does not broadcast (m,) weights over the steps.
        step_weights = np.repeat(advantages[:, None], actions.shape[1], axis=1)
        loss = self.controller.train_on_batch(actions, actions.astype("int32"), sample_weight=step_weights)
        self.baseline = self.baseline_decay * self.baseline + (1.0 - self.baseline_decay) * float(rewards.mean())
        return float(np.asarray(loss).reshape(-1)[0]), advantages


def search(controller, reward_fn, steps, batch_size=8, trainer=None, seed=0, progress=None):
    """The NAS loop: sample `batch_size` children, score them with `reward_fn(description)`,
    update the controller. Returns a list of dicts (step, mean reward, baseline, best)."""
    trainer = trainer or ReinforceTrainer(controller)
    history, best = [], (-np.inf, None)
    for step in range(steps):
        actions, descriptions = controller.sample(batch_size, seed=None if seed is None else seed + step)
        rewards = np.asarray([reward_fn(description) for description in descriptions], dtype="float32")
        index = int(np.argmax(rewards))
        if rewards[index] > best[0]:
            best = (float(rewards[index]), descriptions[index])
        loss, _ = trainer.update(actions, rewards)
        history.append(
            dict(step=step, mean_reward=float(rewards.mean()), baseline=trainer.baseline, loss=loss, best=best)
        )
        if progress:
            progress(f"step {step + 1}/{steps}: mean reward {rewards.mean():.4f}, best {best[0]:.4f}")
    return history


def child_accuracy_reward(x_train, y_train, x_val, y_val, num_classes, epochs=1, batch_size=32, **child_kwargs):
    """The paper's reward: validation accuracy of the child network trained on (x_train, y_train)."""

    def reward(description):
        child = NASChildNet(
            description=description, input_shape=tuple(x_train.shape[1:]), num_classes=num_classes, **child_kwargs
        )
        child.compile(
            optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=False,
        )
        child.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)
        return float(child.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"])

    return reward


# --- child network --------------------------------------------------------------------------------

# A 6-layer child (the controller's starting depth in the paper), with one skip connection.
DEFAULT_CHILD = (
    {"filter_height": 3, "filter_width": 3, "filters": 36, "stride": 1, "inputs": []},
    {"filter_height": 3, "filter_width": 3, "filters": 48, "stride": 1, "inputs": [0]},
    {"filter_height": 5, "filter_width": 5, "filters": 36, "stride": 2, "inputs": [1]},
    {"filter_height": 3, "filter_width": 3, "filters": 64, "stride": 1, "inputs": [2]},
    {"filter_height": 1, "filter_width": 1, "filters": 48, "stride": 1, "inputs": [2, 3]},
    {"filter_height": 3, "filter_width": 3, "filters": 64, "stride": 2, "inputs": [4]},
)


def _pad_to(tensors, name):
    """Zero-pads maps (bottom/right) to the largest height and width among `tensors`."""
    height = max(t.shape[1] for t in tensors)
    width = max(t.shape[2] for t in tensors)
    padded = []
    for index, tensor in enumerate(tensors):
        dh, dw = height - tensor.shape[1], width - tensor.shape[2]
        padded.append(
            keras.layers.ZeroPadding2D(((0, dh), (0, dw)), name=f"{name}_pad{index}")(tensor) if dh or dw else tensor
        )
    return padded


def _merge(tensors, name):
    if len(tensors) == 1:
        return tensors[0]
    return keras.layers.Concatenate(axis=-1, name=name)(_pad_to(tensors, name))


@keras.saving.register_keras_serializable(package="deepzoo")
class NASChildNet(ZooModel):
    """The CNN a controller sample describes.

    Args:
        description: list of layers {filter_height, filter_width, filters, stride, inputs}; `inputs`
            lists earlier layer indices (the image when empty). Every layer is conv (same padding)
            → BN → ReLU.
        width_multiplier: scales every layer's filters.
        input_shape, num_classes, include_top, pooling, preprocessing, classifier_activation: as
            every backbone.
    """

    def __init__(
        self,
        description=DEFAULT_CHILD,
        input_shape=(32, 32, 3),
        num_classes=10,
        width_multiplier=1.0,
        include_top=True,
        pooling=None,
        preprocessing=None,
        classifier_activation="softmax",
        name="nas_child_net",
        **kwargs,
    ):
        if not description:
            raise ValueError("description must list at least one layer. Received: description=[]")
        inputs, image = model_input(input_shape, preprocessing)
        outputs, consumed = [], set()
        for index, layer in enumerate(description):
            sources = [int(j) for j in layer.get("inputs", [])]
            if any(j < 0 or j >= index for j in sources):
                raise ValueError(f"Layer {index} may only read earlier layers. Received: inputs={sources}")
            consumed.update(sources)
            x = _merge([outputs[j] for j in sources], f"layer{index}_inputs") if sources else image
            x = conv_bn_act(
                x,
                scaled_width(int(layer["filters"]), width_multiplier),
                (int(layer["filter_height"]), int(layer["filter_width"])),
                strides=int(layer.get("stride", 1)),
                name=f"layer{index}",
            )
            outputs.append(x)
        sinks = [outputs[i] for i in range(len(outputs)) if i not in consumed]
        x = _merge(sinks, "sinks")
        if include_top:
            x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
            head = keras.layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
        else:
            head = classifier_head(x, num_classes, include_top=False, pooling=pooling)
        super().__init__(inputs=inputs, outputs=head, name=name, **kwargs)
        record_pyramid(self, ((preprocessing or {}).get("resize") or input_shape)[0])


# --- accuracy regressor over tokenised descriptions -----------------------------------------------

PROTOTXT_KEYWORDS = (
    "layer", "{", "}", "name", "type", "bottom", "top", "data", "Convolution", "BatchNorm", "ReLU",
    "Pooling", "InnerProduct", "Concat", "Dropout", "Softmax", "kernel_h", "kernel_w", "kernel_size",
    "num_output", "stride", "pad", "pool", "MAX", "AVE", "dropout_ratio",
)  # fmt: skip
MAX_NAMES = 64
PROTOTXT_VOCABULARY = (
    ("<pad>", "<unk>", "<num>")
    + PROTOTXT_KEYWORDS
    + tuple(str(n) for n in range(65))
    + ("96", "128", "192", "256", "384", "512", "1024", "2048", "4096")
    + tuple(f"n{i}" for i in range(MAX_NAMES))
)
_TOKEN_IDS = {token: index for index, token in enumerate(PROTOTXT_VOCABULARY)}
_TOKEN_PATTERN = re.compile(r"[{}]|[A-Za-z_<>][A-Za-z_0-9<>]*|\d+(?:\.\d+)?")


def describe_prototxt(description):
    """A Caffe-prototxt-style text of a child description (data → conv layers → softmax)."""
    lines = []
    for index, layer in enumerate(description):
        sources = layer.get("inputs") or []
        bottoms = " ".join(f'bottom: "layer{j}"' for j in sources) if sources else 'bottom: "data"'
        lines.append(
            f'layer {{ name: "layer{index}" type: "Convolution" {bottoms} kernel_h: {layer["filter_height"]} '
            f"kernel_w: {layer['filter_width']} num_output: {layer['filters']} stride: {layer.get('stride', 1)} }}"
        )
    lines.append('layer { name: "prob" type: "Softmax" }')
    return "\n".join(lines)


def tokenize_description(text, max_tokens):
    """Token ids (float32, padded with 0 to `max_tokens`) of a prototxt-style description.

    Keywords and small numbers have their own tokens; other numbers are <num>; layer and blob names
    are renamed n0, n1, ... in order of first appearance, so the wiring survives any naming.
    """
    if not isinstance(text, str):
        text = describe_prototxt(text)
    names, ids = {}, []
    for token in _TOKEN_PATTERN.findall(text):
        if token in _TOKEN_IDS:
            ids.append(_TOKEN_IDS[token])
        elif token[0].isdigit():
            ids.append(_TOKEN_IDS["<num>"])
        else:
            if token not in names:
                names[token] = f"n{len(names)}" if len(names) < MAX_NAMES else "<unk>"
            ids.append(_TOKEN_IDS[names[token]])
    ids = ids[:max_tokens] + [0] * max(0, max_tokens - len(ids))
    return np.asarray(ids, dtype="float32")


@keras.saving.register_keras_serializable(package="deepzoo")
class AccuracyRegressor(ZooModel):
    """RNN that predicts a network's accuracy from its tokenised description: embedding → LSTM → σ.

    Args:
        max_tokens: input length (descriptions are padded/truncated to it; 0 = padding, masked).
        embedding_dim: token embedding width.
        lstm_units: LSTM units.
        unroll: unroll the LSTM (static graph: exports everywhere; use for short inputs).
    """

    def __init__(
        self, max_tokens=512, embedding_dim=32, lstm_units=64, unroll=False, name="nas_accuracy_regressor", **kwargs
    ):
        tokens = keras.Input(shape=(max_tokens,), name="tokens")
        x = keras.layers.Embedding(len(PROTOTXT_VOCABULARY), embedding_dim, mask_zero=True, name="token_embedding")(
            ops.cast(tokens, "int32")
        )
        x = keras.layers.LSTM(lstm_units, unroll=unroll, name="lstm")(x)
        outputs = keras.layers.Dense(1, activation="sigmoid", name="accuracy")(x)
        super().__init__(inputs=tokens, outputs=outputs, name=name, **kwargs)


# --- example batches and registration -------------------------------------------------------------


def random_description(rng, num_layers, search_space=NAS_SEARCH_SPACE, skip_probability=0.3):
    """A uniformly random child description (what an untrained controller would emit)."""
    layers = []
    for index in range(num_layers):
        layer = {name: int(rng.choice(choices)) for name, choices in search_space}
        layer.setdefault("stride", 1)
        layer["inputs"] = [j for j in range(index) if rng.random() < skip_probability]
        layers.append(layer)
    return layers


def _controller_batch(config, seed, n=8):
    layout = ControllerLayout(
        config.get("num_layers", 15), _search_space(config.get("search_space")), config.get("skip_connections", True)
    )
    rng = np.random.default_rng(seed)
    actions = np.stack(
        [layout.encode(random_description(rng, layout.num_layers, layout.search_space)) for _ in range(n)]
    )
    return actions.astype("float32"), actions.astype("int32")


def _regressor_batch(config, seed, n=8):
    rng = np.random.default_rng(seed)
    descriptions = [random_description(rng, 3) for _ in range(n)]
    x = np.stack([tokenize_description(d, config.get("max_tokens", 512)) for d in descriptions])
    y = rng.uniform(0.5, 0.95, size=(n, 1)).astype("float32")
    return x, y


_CONTROLLER_NOTES = (
    "Zoph & Le's controller trains on the validation accuracy of children trained for 50 epochs on "
    "CIFAR-10 (800 GPUs); search()/child_accuracy_reward() run that loop at any scale."
)

register(
    ModelSpec(
        name="nas_controller",
        family="classification",
        task="classification",
        builder=NASController,
        canonical_config=dict(num_layers=15, lstm_units=35, lstm_layers=2),
        tiny_config=dict(num_layers=3, lstm_units=16, lstm_layers=2),
        paper="Zoph & Le 2017, ICLR, 'Neural architecture search with reinforcement learning'",
        seeds=("004",),
        example_batch=_controller_batch,
        train_recipe=dict(
            optimizer="adam",
            learning_rate=6e-4,
            momentum=0.0,
            weight_decay=0.0,
            batch_size=8,
            schedule="constant",
            epochs=1,
            label_smoothing=0.0,
        ),
        notes=(
            "Teacher-forced policy: input = the action sequence, output = P(a_t | a_<t) per step; task "
            "'classification' per step, so REINFORCE is the sparse cross-entropy weighted by R − b. "
            + _CONTROLLER_NOTES
        ),
    )
)

register(
    ModelSpec(
        name="nas_child_net",
        family="classification",
        task="classification",
        builder=NASChildNet,
        canonical_config=dict(input_shape=(32, 32, 3), num_classes=10),
        tiny_config=dict(input_shape=(32, 32, 3), num_classes=4, width_multiplier=0.25),
        paper="Zoph & Le 2017, ICLR (child networks of the CIFAR-10 search)",
        seeds=("004",),
        default_dataset="shapes10",
        train_recipe=dict(
            optimizer="nesterov",
            learning_rate=0.1,
            momentum=0.9,
            weight_decay=1e-4,
            batch_size=128,
            schedule="constant",
            epochs=50,
            label_smoothing=0.0,
        ),
        notes="The default description is a fixed 6-layer child with skip connections; any controller sample builds.",
    )
)

register(
    ModelSpec(
        name="nas_accuracy_regressor",
        family="classification",
        task="regression",
        builder=AccuracyRegressor,
        canonical_config=dict(max_tokens=512, embedding_dim=32, lstm_units=64),
        # Unrolled (the masked, non-unrolled LSTM lowers to TensorList ops TFLite builtins lack) and
        # short: XLA compiles every unrolled step of the training step (64 steps took 50 s).
        tiny_config=dict(max_tokens=16, embedding_dim=8, lstm_units=16, unroll=True),
        paper="Lecture 004's accuracy-predicting RNN over network descriptions (cf. Zoph & Le 2017)",
        seeds=("004",),
        example_batch=_regressor_batch,
        train_recipe=dict(
            optimizer="adam",
            learning_rate=1e-3,
            momentum=0.0,
            weight_decay=0.0,
            batch_size=32,
            schedule="constant",
            epochs=30,
            label_smoothing=0.0,
        ),
    )
)
