"""Task kinds: the one owner of task behaviour (see `tasks/base.py`).

    from tasks import get_task
    task = get_task("detection")

Each task module defines its `Task` subclass; this package registers one instance per kind by
explicit import (never by scanning the disk).
"""

import difflib

from tasks.base import CheckOutcome, Task, TensorSpec  # noqa: F401
from tasks.classification import Classification, Regression, Unsupervised
from tasks.detection import Detection
from tasks.generative import Generative
from tasks.segmentation import Segmentation
from tasks.text import Seq2Seq

TASKS: dict[str, Task] = {}


def register_task(task):
    if task.name in TASKS:
        raise ValueError(f"Task '{task.name}' is registered twice.")
    TASKS[task.name] = task
    return task


def get_task(name):
    try:
        return TASKS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(TASKS), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown task '{name}'.{hint} Expected one of {sorted(TASKS)}.") from None


# One instance per task kind; a new kind adds its class to this tuple.
for _task in (Classification(), Regression(), Unsupervised(), Detection(), Segmentation(), Seq2Seq(), Generative()):
    register_task(_task)
