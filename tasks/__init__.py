"""Task kinds: the one owner of task behaviour (see `tasks/base.py`).

    from tasks import get_task
    task = get_task("detection")

Each task module defines its `Task` subclass; this package registers one instance per kind by
explicit import (never by scanning the disk).
"""

from common.names import add_unique, lookup
from tasks.base import CheckOutcome, NumberSetting, Task, TensorSpec  # noqa: F401
from tasks.algorithmic import BitSequence
from tasks.autoencoder import Autoencoding
from tasks.captioning import Captioning
from tasks.contrastive import Contrastive
from tasks.classification import Classification, Regression, Unsupervised
from tasks.detection import Detection
from tasks.detection_3d import Detection3D
from tasks.diffusion import Diffusion
from tasks.generative import Generative
from tasks.image_to_image import ImageToImage
from tasks.instance_segmentation import InstanceSegmentation
from tasks.interpretability import Explanation, Localization, Reconstruction
from tasks.language import LanguageModel, WordEmbedding
from tasks.metric_learning import MetricLearning
from tasks.pose import Pose
from tasks.segmentation import Segmentation
from tasks.sequence import SequenceTagging, TextClassification
from tasks.text import Seq2Seq
from tasks.two_stage import TwoStageDetection
from tasks.video import Video
from tasks.voxels import VoxelReconstruction

TASKS: dict[str, Task] = {}


def register_task(task):
    return add_unique(TASKS, task.name, task, "Task")


def get_task(name, settings=None):
    """The task kind `name`; with `settings`, a copy with those per-run settings (`Task.with_settings`)."""
    return lookup(TASKS, name, "task", f" Expected one of {sorted(TASKS)}.").with_settings(settings)


# One instance per task kind; a new kind adds its class to this tuple.
for _task in (
    Classification(),
    Regression(),
    Unsupervised(),
    Detection(),
    Detection3D(),
    TwoStageDetection(),
    InstanceSegmentation(),
    Segmentation(),
    Seq2Seq(),
    Captioning(),
    Contrastive(),
    Generative(),
    Diffusion(),
    ImageToImage(),
    Autoencoding(),
    MetricLearning(),
    TextClassification(),
    SequenceTagging(),
    Video(),
    VoxelReconstruction(),
    Pose(),
    Explanation(),
    Localization(),
    Reconstruction(),
    LanguageModel(),
    WordEmbedding(),
    BitSequence(),
):
    register_task(_task)
