"""The spec's rows (`shared/spec/ARCHITECTURES.md` §2), as data: family letter -> registry family
slug and row ids. The registry is checked against it (tests/test_spec_coverage.py) so that a row
is either registered or listed by `deepzoo check --coverage` as not yet implemented; nothing is
silently missing. Regenerate with `python -m architectures.spec_rows PATH/TO/ARCHITECTURES.md`.
"""

import re

FAMILY_SLUGS = {
    "A": "foundations",
    "B": "classification",
    "C": "interpretability",
    "D": "detection",
    "E": "segmentation",
    "F": "metric_learning",
    "G": "generative",
    "H": "sequence",
    "I": "video",
    "J": "pose",
    "K": "three_d",
}

# Families whose every row is registered (all of them since every spec row has a registry id; an
# issue stays open while its quality goals are not met).
COMPLETE_FAMILIES = ("A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K")

SPEC_ROWS = {
    "A": (
        "perceptron", "mcculloch_pitts_neuron", "adaline", "linear_regression",
        "logistic_regression", "logistic_ova", "linear_classifier", "mlp", "blum_li_constructive",
        "time_window_ffnn", "hopfield_net", "kohonen_som", "cellular_nn", "oja_pca_net",
    ),
    "B": (
        "simple_cnn", "convnetjs_cifar10", "locally_connected_net", "lenet5", "alexnet", "vgg11",
        "vgg13", "vgg16", "vgg19", "nin", "googlenet", "inception_v3", "inception_v4",
        "inception_resnet_v2", "plain_net", "resnet18", "resnet34", "resnet50", "resnet101",
        "resnet152", "resnet_cifar", "wide_resnet", "resnext50_32x4d", "densenet121",
        "mobilenet_v1", "shufflenet_v1", "squeezenet", "squeezenext", "efficientnet_b0",
        "nas_controller", "regression_cnn",
    ),
    "C": (
        "two_head_localizer", "cam", "grad_cam", "augmented_grad_cam", "saliency_map",
        "activation_maximization", "max_activating_patches", "occlusion_sensitivity",
        "perception_visualization", "feature_inversion_net", "deep_dream", "fgsm",
        "adversarial_sticker",
    ),
    "D": (
        "sliding_window_detector", "overfeat", "rcnn", "fast_rcnn", "faster_rcnn", "yolo_v1",
        "yolo_v2", "ssd", "retinanet", "detectnet",
    ),
    "E": (
        "fcn_heatmap", "heatmap_direct_upsampling", "shift_and_stitch", "sliding_window_segmenter",
        "conv_only_segmenter", "encoder_decoder_segmenter", "fcn32s", "fcn16s", "fcn8s",
        "deconvnet", "segnet", "unet", "enet", "deeplab_v1", "sharpmask", "mask_rcnn",
    ),
    "F": (
        "per_identity_classifier", "embedding_template_matcher", "embedding_knn",
        "siamese_contrastive", "facenet_triplet", "deepface",
    ),
    "G": (
        "mlp_autoencoder", "linear_autoencoder_pca", "conv_autoencoder", "denoising_autoencoder",
        "sparse_autoencoder", "ae_pretrained_classifier", "ae_generator", "vae", "gan",
        "gan_nonsaturating", "lsgan", "wgan", "ebgan", "dcgan", "cgan", "controllable_gan",
        "bigan_anomaly", "pix2pix", "cyclegan", "srgan", "gan_3d", "vae_gan_3d",
        "gatys_style_transfer", "fast_style_transfer", "clip", "dalle2_unclip", "diffusion_ddpm",
    ),
    "H": (
        "elman_rnn", "lstm", "lstm_peephole", "lstm_coupled", "gru", "stacked_rnn",
        "bidirectional_rnn", "lstm_classifier", "sequence_tagger", "conv1d_sequence", "ecg_1d_cnn",
        "seq2seq", "char_rnn_lm", "rnn_lm", "nnlm_bengio", "word2vec_cbow", "word2vec_skipgram",
        "glove", "ntm", "neural_gpu", "rl_ntm", "neural_ram", "stack_queue_rnn", "seq2seq_bahdanau",
        "seq2seq_luong", "transformer", "gpt", "bert", "vit", "image_captioning",
        "image_captioning_attention", "vqa",
    ),
    "I": (
        "single_frame_cnn", "early_fusion_cnn", "late_fusion_cnn", "slow_fusion_cnn",
        "cnn_rnn_video", "lrcn", "c3d", "c3d_rnn", "two_stream", "two_stream_fusion_3d", "i3d",
        "tsn",
    ),
    "J": (
        "deeppose", "tompson_heatmap", "cpm", "openpose", "deepcut", "alphapose_rmpe",
    ),
    "K": (
        "pointnet", "pointnet_pp", "pointnet_synthesis", "pointseg", "bev_cnn", "multiview_cnn",
        "volumetric_cnn", "rgbd_fusion", "projection_cnn_3d", "descriptor_mlp_3d",
        "mesh_spectral_cnn", "smpl_layer", "image_to_3d", "object_detection_3d", "sfsnet",
        "intrinsic_reflectance_prior", "neural_rendering_pipeline", "motion_autoencoder",
        "motion_style_transfer",
    ),
}


def parse_spec(text):
    """Row ids per family letter from the spec's Markdown (families A–K; L is out of scope)."""
    rows, family = {}, None
    for line in text.splitlines():
        heading = re.match(r"^### ([A-L])\. ", line)
        if heading:
            family = heading.group(1)
            continue
        row = re.match(r"^\| `([a-z0-9_]+)`", line)
        if row and family and family != "L":
            rows.setdefault(family, []).append(row.group(1))
    return {family: tuple(ids) for family, ids in rows.items()}


def missing_rows(registered):
    """Spec row ids with no registered model of that name, per family letter."""
    registered = set(registered)
    return {family: [r for r in ids if r not in registered] for family, ids in SPEC_ROWS.items()}


if __name__ == "__main__":
    import pprint
    import sys
    from pathlib import Path

    pprint.pprint(parse_spec(Path(sys.argv[1]).read_text()), width=100)
