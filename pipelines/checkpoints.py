"""Keras's checkpoint callbacks, made crash-safe.

`keras.callbacks.BackupAndRestore` and `ModelCheckpoint` overwrite their files in place. A run killed
while one of them is writing (SIGKILL, OOM killer, pre-empted VM) leaves an HDF5/zip file that
cannot be opened, and the resumed run then dies with "bad object header version number". These
subclasses keep Keras's logic (when to save, what to monitor, how to restore) and change only how
the bytes land: written beside the final name, then renamed over it (`common.io.atomic_path`).

They override Keras' private `_save_model` hooks and read the state those use (`_weights_path`,
`_current_epoch`, `_get_file_path`, `_should_save_model`; all present since Keras 3.10, the floor in
pyproject.toml). tests/test_checkpoints.py fails if a Keras release changes them.
"""

import shutil
from pathlib import Path

import keras

from common.io import atomic_path, write_json_atomic


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose weights and epoch counter are each replaced in one rename.

    Weights are renamed in before the epoch counter, so a kill between the two resumes with the
    newer weights and repeats at most one epoch; it never skips one. Keras' `double_checkpoint`
    (a `.bkp` copy to fall back on when the latest file is corrupt) is not needed, and not written.
    """

    def on_train_begin(self, logs=None):
        # Temporaries of a write that a kill interrupted: never read, safe to drop.
        for leftover in Path(self.backup_dir).glob(".*.tmp"):
            shutil.rmtree(leftover, ignore_errors=True)
        super().on_train_begin(logs)

    def _save_model(self):
        with atomic_path(self._weights_path) as tmp:
            self.model.save_weights(str(tmp))
        write_json_atomic(self._training_metadata_path, {"epoch": self._current_epoch, "batch": self._last_batch_seen})


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` whose file is replaced in one rename: the last good checkpoint survives a kill."""

    def _save_model(self, epoch, batch, logs):
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, batch, logs, filepath):
            return
        with atomic_path(filepath) as tmp:
            if self.save_weights_only:
                self.model.save_weights(str(tmp), overwrite=True)
            else:
                self.model.save(str(tmp), overwrite=True)
