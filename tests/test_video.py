"""Family I (video) checks from the spec: moving-shapes data with exact flow, I3D inflation, TSN's
segmental consensus, clip → video averaging, C3D + RNN temporal detection by segment IoU, and the
fusion models' temporal extents as Karpathy et al. give them."""

import keras
import numpy as np
import pytest

import architectures
from architectures.video.inception import I3D, TSN, segment_centres
from architectures.video.layers import Pool3D, inflate_weights
from pipelines.datasets import load_dataset
from pipelines.sources_generated import SHAPES
from pipelines.sources_video import (
    MOTIONS,
    _analytic_flow,
    _coverage,
    _motion_law,
    generate_moving_shapes,
    generate_untrimmed,
)
from tasks import get_task
from tasks.video import (
    detect_segments,
    segment_iou,
    segments_from_labels,
    temporal_detection_report,
    video_accuracy,
    video_average,
)


def run(model, x):
    """An eager call: for a tiny model much cheaper than `predict`'s traced function."""
    outputs = model(x, training=False)
    return [np.asarray(o) for o in outputs] if isinstance(outputs, (list, tuple)) else np.asarray(outputs)


# --- data -------------------------------------------------------------------------------------


def test_moving_shapes_is_deterministic_balanced_and_shaped():
    a = load_dataset("moving_shapes", seed=3, num_per_class=4)
    b = load_dataset("moving_shapes", seed=3, num_per_class=4)
    assert a.x.shape == (36, 8, 32, 32, 3) and a.x.dtype == np.float32
    np.testing.assert_array_equal(a.x, b.x)
    assert np.bincount(a.y, minlength=9).tolist() == [4] * 9
    assert a.class_names == list(MOTIONS)
    assert not np.array_equal(a.x, load_dataset("moving_shapes", seed=4, num_per_class=4).x)


@pytest.mark.parametrize("motion", ["right", "up", "rotate", "zoom_in", "zoom_out", "bounce"])
def test_analytic_flow_carries_each_sprite_pixel_onto_the_next_frame(motion):
    rng = np.random.default_rng(0)
    inside, _ = SHAPES["triangle"]
    centre, radius, angle = _motion_law(rng, motion, 8, 32, period=8)
    coverage = _coverage(inside, centre, radius, angle, 32, supersample=4)
    flow = _analytic_flow(coverage[:8], centre, radius, angle, 32)
    for t in range(7):
        ys, xs = np.nonzero(coverage[t] >= 0.99)  # pixels well inside the sprite
        landed_x = np.round(xs + 0.5 + flow[t, ys, xs, 0] - 0.5).astype(int)
        landed_y = np.round(ys + 0.5 + flow[t, ys, xs, 1] - 0.5).astype(int)
        assert np.mean(coverage[t + 1, landed_y, landed_x] > 0.0) == 1.0
    assert np.abs(flow).max() > 0.2  # it moves
    if motion == "right":
        moving = coverage[:8] >= 0.5
        np.testing.assert_allclose(flow[..., 0][moving], centre[1, 0] - centre[0, 0], rtol=1e-6)
        assert np.all(flow[..., 1][moving] == 0.0)


def test_static_clips_have_zero_flow_and_farneback_sees_the_direction():
    clips, flows, labels, _ = generate_moving_shapes(seed=1, num_per_class=3)
    assert np.all(flows[labels == MOTIONS.index("static")] == 0.0)
    estimated = load_dataset("moving_shapes_flow", seed=1, num_per_class=3, flow="farneback").x["flow"]
    right, left = labels == MOTIONS.index("right"), labels == MOTIONS.index("left")
    on_sprite = np.abs(flows) > 0
    assert estimated[right][on_sprite[right]].reshape(-1, 1).size > 0
    mean_dx = lambda mask: float(estimated[mask][..., 0][np.abs(flows[mask][..., 0]) > 0].mean())
    assert mean_dx(right) > 0.3 and mean_dx(left) < -0.3


def test_videos_cut_into_overlapping_clips_keep_their_video_ids():
    clips, _, labels, video_ids = generate_moving_shapes(seed=0, num_per_class=2, clips_per_video=3)
    assert clips.shape[0] == 54 and video_ids.tolist()[:6] == [0, 0, 0, 1, 1, 1]
    # Clip k + 1 starts CLIP_STRIDE = 2 frames after clip k of the same video.
    np.testing.assert_array_equal(clips[0, 2:], clips[1, :-2])
    assert len(set(labels[video_ids == 5])) == 1


def test_untrimmed_sequences_alternate_actions_and_background():
    x, y = generate_untrimmed(seed=0, num_sequences=20, clips=6)
    assert x.shape == (20, 6, 8, 32, 32, 3) and y.shape == (20, 6)
    for sequence, labels in zip(x, y):
        for clip, label in zip(sequence, labels):
            spread = clip.std(axis=0).mean()  # pixel noise only, when nothing moves
            if label == 0:
                assert spread < 10.0
        segments = segments_from_labels(labels)
        assert all(1 <= end - start <= 2 for start, end, _ in segments)
        assert all(labels[s - 1] == 0 for s, _, _ in segments if s > 0)  # actions are separated by background


# --- I3D inflation ----------------------------------------------------------------------------

I3D_TINY = dict(rgb_shape=(8, 32, 32, 3), flow_shape=(8, 32, 32, 2), num_classes=5, streams=["rgb"], stage_blocks=(1, 1, 1), width_multiplier=1 / 8, dropout=0.0)


def _randomise_batchnorm(model, seed):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(-0.2, 0.2, w.shape) if i == 0 else rng.uniform(0.5, 1.5, w.shape) if i == 2 else rng.normal(0, 0.1, w.shape) for i, w in enumerate(layer.get_weights())])


def test_inflated_i3d_gives_the_2d_networks_output_on_a_static_video():
    parent = I3D(inflate=False, **I3D_TINY)  # Inception-v1 applied per frame
    _randomise_batchnorm(parent, 0)
    child = I3D(inflate=True, temporal_padding="edge", **I3D_TINY)
    inflated = inflate_weights(parent, child)
    assert "rgb_Conv3d_1a_7x7" in inflated and child.get_layer("rgb_Conv3d_1a_7x7").kernel.shape[0] == 7
    frame = np.random.default_rng(1).uniform(0, 255, (2, 1, 32, 32, 3)).astype("float32")
    static = np.repeat(frame, 8, axis=1)
    expected = run(parent, frame.repeat(8, axis=1))  # per frame: the frame's own output
    np.testing.assert_allclose(run(child, static), expected, rtol=1e-4, atol=1e-6)
    # A moving video is not a static one: the inflated net then differs from the 2-D net.
    moving = static.copy()
    moving[:, 4:] = np.roll(moving[:, 4:], 6, axis=3)
    assert np.max(np.abs(run(child, moving) - run(parent, moving))) > 1e-4


def test_inflation_with_zero_padding_is_exact_away_from_the_clips_ends():
    parent = I3D(inflate=False, **I3D_TINY)
    child = I3D(inflate=True, **I3D_TINY)  # the released code's zero padding
    inflate_weights(parent, child)
    probe = lambda m: keras.Model(m.inputs, m.get_layer("rgb_Conv3d_1a_7x7").output)
    frames = np.repeat(np.random.default_rng(2).uniform(0, 255, (1, 1, 32, 32, 3)), 8, axis=1).astype("float32")
    got = run(probe(child), frames)  # [1, 4, 16, 16, C] (temporal stride 2)
    want = run(probe(parent), frames)[:, 0]  # any frame: the video is static
    # TF 'same' pads 2 frames before and 3 after: output i reads frames 2i − 2 .. 2i + 4, so only
    # output 1 (frames 0..6) lies inside the clip.
    np.testing.assert_allclose(got[:, 1], want, rtol=1e-4, atol=1e-5)
    for end in (0, 2, 3):
        assert np.max(np.abs(got[:, end] - want)) > 1e-3  # the padded ends are dimmed


def test_pool3d_equals_a_dense_3d_pooling():
    x = np.random.default_rng(0).normal(size=(2, 5, 7, 6, 3)).astype("float32")
    for mode, reference in (("max", keras.layers.MaxPooling3D), ("average", keras.layers.AveragePooling3D)):
        for padding in ("same", "valid"):
            ours = Pool3D(mode, (3, 3, 2), (2, 2, 1), padding=padding)(x)
            theirs = reference((3, 3, 2), (2, 2, 1), padding=padding)(x)
            np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-6)


# --- TSN --------------------------------------------------------------------------------------

TSN_TINY = dict(rgb_shape=(9, 32, 32, 3), flow_shape=(9, 32, 32, 2), num_classes=4, flow_length=2, stage_blocks=(1, 0, 0), width_multiplier=1 / 8, dropout=(0.0, 0.0))


def test_tsn_segmental_consensus_and_weighted_modality_fusion():
    assert segment_centres(9, 3) == [1, 4, 7] and segment_centres(25, 3) == [3, 11, 20]
    model = TSN(**TSN_TINY)
    rng = np.random.default_rng(0)
    x = {"rgb": rng.uniform(0, 255, (2, 9, 32, 32, 3)).astype("float32"), "flow": rng.normal(size=(2, 9, 32, 32, 2)).astype("float32")}
    probe = keras.Model(model.inputs, [model.get_layer("rgb_scores").output, model.get_layer("flow_scores").output, model.output])
    rgb_scores, flow_scores, probabilities = run(probe, x)
    assert rgb_scores.shape == (2, 3, 4)  # one score vector per segment
    fused = rgb_scores.mean(axis=1) + 1.5 * flow_scores.mean(axis=1)
    expected = np.exp(fused - fused.max(-1, keepdims=True))
    np.testing.assert_allclose(probabilities, expected / expected.sum(-1, keepdims=True), rtol=1e-4, atol=1e-6)
    # Sparse sampling: only the snippets count. Frames 0, 2, 3, 5, 6, 8 are no snippet's RGB frame.
    changed = {k: v.copy() for k, v in x.items()}
    changed["rgb"][:, [0, 2, 3, 5, 6, 8]] = 0.0
    np.testing.assert_allclose(run(model, changed), probabilities, rtol=1e-5)
    changed["rgb"][:, 4] = 0.0  # the middle segment's snippet
    assert np.max(np.abs(run(model, changed) - probabilities)) > 1e-5
    # The max consensus is the other option of the paper.
    maxed = TSN(consensus="max", **TSN_TINY)
    maxed.set_weights(model.get_weights())
    probe = keras.Model(maxed.inputs, [maxed.get_layer("rgb_scores").output, maxed.get_layer("flow_scores").output, maxed.output])
    rgb_scores, flow_scores, probabilities = run(probe, x)
    fused = rgb_scores.max(axis=1) + 1.5 * flow_scores.max(axis=1)
    expected = np.exp(fused - fused.max(-1, keepdims=True))
    np.testing.assert_allclose(probabilities, expected / expected.sum(-1, keepdims=True), rtol=1e-4, atol=1e-6)


# --- clip → video -----------------------------------------------------------------------------


def test_clip_scores_average_into_video_predictions():
    clip_scores = np.array([[0.6, 0.4], [0.3, 0.7], [0.2, 0.8], [0.9, 0.1], [0.8, 0.2]])
    ids, scores = video_average(clip_scores, [7, 7, 7, 2, 2])
    assert ids.tolist() == [2, 7]
    np.testing.assert_allclose(scores, [[0.85, 0.15], [1.1 / 3, 1.9 / 3]])
    # Video 7 (label 1) has one wrong clip; the average outvotes it: 4/5 clips right, 2/2 videos.
    labels = np.array([1, 1, 1, 0, 0])
    assert np.mean(np.argmax(clip_scores, -1) == labels) == 0.8
    assert video_accuracy(clip_scores, labels, [7, 7, 7, 2, 2]) == 1.0


# --- augmentation -----------------------------------------------------------------------------


def test_motion_augmentation_maps_each_label_onto_the_motion_it_makes():
    task = get_task("video")
    data = load_dataset("moving_shapes_flow", seed=2, num_per_class=2)
    sprite = np.abs(data.x["flow"]).sum(-1) > 0
    mean_flow = lambda flow, mask, axis: float(flow[mask][..., axis][sprite[mask]].mean())
    right, down = data.y == MOTIONS.index("right"), data.y == MOTIONS.index("down")
    x, y = task.build_augmentation({"flip_horizontal": 1.0, "flip_vertical": 1.0}, data, seed=0)(data.x, data.y)
    flow, y = np.asarray(x["flow"]), np.asarray(y)
    np.testing.assert_array_equal(np.asarray(x["rgb"]), data.x["rgb"][:, :, ::-1, ::-1])
    sprite = sprite[:, :, ::-1, ::-1]
    # The mirrored clips move the other way, and their labels say so.
    assert set(y[right]) == {MOTIONS.index("left")} and mean_flow(flow, right, 0) < -0.5
    assert set(y[down]) == {MOTIONS.index("up")} and mean_flow(flow, down, 1) < -0.5
    keep = ~np.isin(data.y, [MOTIONS.index(m) for m in ("left", "right", "up", "down")])
    np.testing.assert_array_equal(y[keep], data.y[keep])
    # Played backwards, a zoom in is a zoom out; a sequence's clip labels reverse with it.
    clips = load_dataset("moving_shapes", seed=2, num_per_class=1)
    x, y = task.build_augmentation({"reverse": 1.0}, clips, seed=0)(clips.x, clips.y)
    np.testing.assert_array_equal(np.asarray(x), clips.x[:, ::-1])
    assert [MOTIONS[i] for i in np.asarray(y)] == [
        {"left": "right", "right": "left", "up": "down", "down": "up", "zoom_in": "zoom_out", "zoom_out": "zoom_in"}.get(MOTIONS[i], MOTIONS[i])
        for i in clips.y
    ]
    untrimmed = load_dataset("moving_shapes_untrimmed", seed=2, num_sequences=3)
    x, y = task.build_augmentation({"reverse": 1.0}, untrimmed, seed=0)(untrimmed.x, untrimmed.y)
    np.testing.assert_array_equal(np.asarray(x), untrimmed.x[:, ::-1, ::-1])
    reversed_names = [[untrimmed.class_names[i] for i in row] for row in np.asarray(y)]
    assert reversed_names[0][::-1] == [
        {"left": "right", "right": "left", "up": "down", "down": "up", "zoom_in": "zoom_out", "zoom_out": "zoom_in"}.get(n, n)
        for n in (untrimmed.class_names[i] for i in untrimmed.y[0])
    ]


def test_motion_augmentation_shifts_every_frame_of_a_clip_alike():
    task = get_task("video")
    data = load_dataset("moving_shapes", seed=1, num_per_class=1)
    x, y = task.build_augmentation({"shift": 3}, data, seed=0)(data.x, data.y)
    x = np.asarray(x)
    np.testing.assert_array_equal(np.asarray(y), data.y)
    for clip, original in zip(x, data.x):
        matches = [
            (dy, dx)
            for dy in range(-3, 4)
            for dx in range(-3, 4)
            if np.array_equal(clip[:, 3:-3, 3:-3], original[:, 3 + dy : 29 + dy, 3 + dx : 29 + dx])
        ]
        assert len(matches) == 1
    with pytest.raises(ValueError, match="video augmentation"):
        task.build_augmentation("flip", data, seed=0)


# --- temporal detection -----------------------------------------------------------------------


def test_segment_iou_and_detection_from_per_clip_probabilities():
    assert segment_iou((1, 3), (2, 4)) == pytest.approx(1 / 3)
    assert segment_iou((0, 2), (2, 4)) == 0.0
    labels = np.array([[0, 3, 3, 0, 5, 0]])
    perfect = np.eye(10)[labels] * 0.9 + 0.01
    assert segments_from_labels(labels[0]) == [(1, 3, 3), (4, 5, 5)]
    report = temporal_detection_report(labels, perfect)
    assert report == {"mean_segment_iou": 1.0, "segment_precision": 1.0, "segment_recall": 1.0}
    # The action-3 segment detected one clip late: IoU 1/3, below 0.5, so it is not a match.
    late = np.eye(10)[np.array([[0, 0, 3, 3, 5, 0]])] * 0.9 + 0.01
    report = temporal_detection_report(labels, late)
    assert report["mean_segment_iou"] == pytest.approx((1 / 3 + 1.0) / 2)
    assert report["segment_recall"] == 0.5 and report["segment_precision"] == 0.5
    # The threshold γ: an activity whose best probability is below γ becomes background.
    weak = np.full((4, 3), 0.1)
    weak[:, 0] = 0.05
    weak[1:3, 2] = 0.85
    assert detect_segments(weak, threshold=0.2) == [(1, 3, 2, pytest.approx(0.85))]
    assert detect_segments(weak, threshold=0.9) == []


def test_c3d_rnn_outputs_per_clip_probabilities_scored_as_segments():
    model = architectures.create_model("c3d_rnn", config="tiny")
    x, y = generate_untrimmed(seed=0, num_sequences=2, clips=4)
    probabilities = run(model, x)
    assert probabilities.shape == (2, 4, 10)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    report = get_task("video").score(y, {"output": probabilities})
    assert report["num_examples"] == 8  # clips
    assert set(report) >= {"accuracy", "mean_segment_iou", "segment_precision", "segment_recall"}
    oracle = get_task("video").score(y, {"output": np.eye(10)[y].astype("float32")})
    assert oracle["accuracy"] == 1.0 and oracle["mean_segment_iou"] == 1.0


# --- Karpathy et al.'s fusion models -----------------------------------------------------------


def _temporal_sizes(model):
    return {layer.name: layer.output.shape[1] for layer in model.layers if layer.name.startswith("conv")}


def test_fusion_models_have_the_papers_temporal_extents():
    small = dict(num_classes=3, width_multiplier=1 / 16)
    slow = architectures.create_model("slow_fusion_cnn", input_shape=(10, 64, 64, 3), **small)
    assert [slow.get_layer(f"conv{i}").kernel.shape[0] for i in (1, 2, 3)] == [4, 2, 2]
    assert all(isinstance(slow.get_layer(f"conv{i}"), keras.layers.Conv2D) for i in (4, 5))  # per frame
    assert [slow.get_layer(f"conv{i}").strides[0] for i in (1, 2, 3)] == [2, 2, 2]
    assert [slow.get_layer(f"conv{i}").output.shape[1] for i in (1, 2, 3)] == [4, 2, 1]  # conv3 sees all 10 frames
    early = architectures.create_model("early_fusion_cnn", input_shape=(10, 64, 64, 3), **small)
    assert early.get_layer("conv1").kernel.shape[:3] == (10, 11, 11) and early.get_layer("conv1").output.shape[1] == 1
    late = architectures.create_model("late_fusion_cnn", input_shape=(16, 64, 64, 3), **small)
    assert late.get_layer("frames").indices == [0, 15] and late.get_layer("unfold_frames").output.shape[1] == 2
    single = architectures.create_model("single_frame_cnn", input_shape=(10, 64, 64, 3), **small)
    assert all(isinstance(single.get_layer(f"conv{i}"), keras.layers.Conv2D) for i in range(1, 6))

    # What each model sees: a change in frame 9 reaches slow fusion's conv3 but not conv1's first
    # response (frames 0-3); late fusion sees only frames 0 and 15; single frame averages frames.
    rng = np.random.default_rng(0)
    clip = rng.uniform(0, 255, (1, 10, 64, 64, 3)).astype("float32")
    changed = clip.copy()
    changed[:, 9] = 0.0
    conv1 = keras.Model(slow.inputs, slow.get_layer("conv1_act").output)
    conv3 = keras.Model(slow.inputs, slow.get_layer("conv3_act").output)
    np.testing.assert_array_equal(run(conv1, clip)[:, 0], run(conv1, changed)[:, 0])
    assert np.max(np.abs(run(conv3, clip) - run(conv3, changed))) > 0
    long_clip = rng.uniform(0, 255, (1, 16, 64, 64, 3)).astype("float32")
    middle = long_clip.copy()
    middle[:, 1:15] = 0.0
    np.testing.assert_array_equal(run(late, long_clip), run(late, middle))
    reversed_clip = clip[:, ::-1]
    np.testing.assert_allclose(run(single, clip), run(single, reversed_clip), rtol=1e-5)


# --- the task ---------------------------------------------------------------------------------


def test_video_task_sizes_two_stream_models_from_the_data_and_batches_their_inputs():
    task = get_task("video")
    data = load_dataset("moving_shapes_flow", num_per_class=1)
    accepted = ["rgb_shape", "flow_shape", "num_classes"]
    assert task.model_overrides(data, data.x, accepted) == {"rgb_shape": [8, 32, 32, 3], "flow_shape": [8, 32, 32, 2]}
    model = architectures.create_model("two_stream", config="tiny")
    x, y = task.example_batch(model, 4, seed=0)
    assert set(x) == {"rgb", "flow"} and x["flow"].shape == (4, 8, 32, 32, 2) and y.tolist() == [0, 1, 2, 3]
    assert task.augmentation is None  # image presets would flip "left" into "right"


@pytest.mark.parametrize(
    "model, bad, message",
    [
        ("c3d", lambda x: x[:, :-1], "expected shape"),           # a clip with the wrong frame count
        ("pointnet", lambda x: x[..., :2], "expected shape"),      # a point cloud of the wrong width
        ("pointnet", lambda x: np.where(np.arange(x.size).reshape(x.shape) == 3, np.nan, x), "NaN"),  # NaN coordinates
    ],
)
def test_served_bad_clips_and_point_clouds_are_one_line_4xx_errors(model, bad, message):
    """The issue's bad inputs, against the served contract of the tiny endpoint (the shapes the
    export writes to deepzoo.json): the server answers each with a one-line 400, never a crash."""
    import architectures
    from serving.errors import BadRequest
    from serving.tensors import TensorSpec, check_inputs

    endpoint = architectures.create_model(model, config="tiny")
    specs = [TensorSpec(t.name.split(":")[0], tuple(-1 if d is None else int(d) for d in t.shape), np.dtype(np.float32)) for t in endpoint.inputs]
    good = {s.name: np.zeros([1] + [d for d in s.shape[1:]], np.float32) for s in specs}
    assert check_inputs(good, specs) == 1
    with pytest.raises(BadRequest, match=message) as error:
        check_inputs({s.name: bad(good[s.name]) for s in specs}, specs)
    assert "\n" not in str(error.value)


def test_video_plots_write_frame_strips_with_true_and_predicted_actions(tmp_path):
    import architectures
    from pipelines.datasets import load_dataset
    from tasks import get_task

    data = load_dataset("moving_shapes", num_per_class=1, frames=8, image_size=32)
    model = architectures.create_model("c3d", config="tiny", num_classes=len(data.class_names))
    task = get_task("video")
    report = task.score(data.y[:4], task.predict(model, data.x[:4]), data.class_names)
    task.plots(tmp_path, model, data.x[:4], data.y[:4], report, data.class_names)
    assert (tmp_path / "frame_strips.png").stat().st_size > 0 and (tmp_path / "confusion_matrix.png").is_file()
