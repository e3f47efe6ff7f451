"""A kill while a checkpoint is being written must leave the previous checkpoint usable."""

import json

import keras
import numpy as np
import pytest

from pipelines.checkpoints import AtomicBackupAndRestore, AtomicModelCheckpoint


class KilledMidWrite(Exception):
    pass


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _die_after_partial_write(model, method):
    """Replaces `model.<method>` with one that writes a truncated file and then dies, as SIGKILL would."""

    def partial(filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"\x89HDF\r\n\x1a\n half")
        raise KilledMidWrite

    setattr(model, method, partial)


def test_backup_survives_a_kill_mid_write(tmp_path):
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
    model = _model()
    # Keep the state a finished fit would delete: this stands in for a run killed at epoch 2.
    backup = AtomicBackupAndRestore(str(tmp_path / "backup"), delete_checkpoint=False)
    model.fit(x, y, epochs=2, callbacks=[backup], verbose=0)
    good = [w.copy() for w in model.get_weights()]

    _die_after_partial_write(model, "save_weights")
    with pytest.raises(KilledMidWrite):
        backup.on_epoch_end(2)
    assert json.loads((tmp_path / "backup" / "training_metadata.json").read_text())["epoch"] == 2

    resumed = _model()
    resumed_backup = AtomicBackupAndRestore(str(tmp_path / "backup"), delete_checkpoint=False)
    resumed.fit(x, y, epochs=2, callbacks=[resumed_backup], verbose=0)  # both epochs were done: restores, trains none
    for restored, expected in zip(resumed.get_weights(), good):
        np.testing.assert_array_equal(restored, expected)
    assert not list((tmp_path / "backup").glob(".*.tmp")), "the interrupted write's temporary was not cleaned up"


def test_best_checkpoint_survives_a_kill_mid_write(tmp_path):
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
    model = _model()
    best = tmp_path / "best.keras"
    checkpoint = AtomicModelCheckpoint(str(best), monitor="loss", save_best_only=True)
    model.fit(x, y, epochs=1, callbacks=[checkpoint], verbose=0)
    saved = keras.saving.load_model(best).get_weights()

    _die_after_partial_write(model, "save")
    with pytest.raises(KilledMidWrite):
        checkpoint.on_epoch_end(1, logs={"loss": -1.0})  # an improvement, so it saves
    for kept, expected in zip(keras.saving.load_model(best).get_weights(), saved):
        np.testing.assert_array_equal(kept, expected)
