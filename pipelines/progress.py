"""Progress of a training run, for people watching it.

`TrainingProgress` is a Keras callback that prints

* one start-up line when training begins: data sizes, model size, device, XLA, and the epoch it
  starts from when a killed run resumes;
* on a terminal, a bar inside each epoch (batches done, running loss and metrics, elapsed time and
  an estimate of the rest), redrawn at most every `min_interval` seconds;
* one line per epoch (`epoch 3/15 loss=0.4321 ... (2.1s)`), which is all it prints when the output
  is not a terminal (logs, CI, pipes), so that logs stay one line per epoch.

    progress = TrainingProgress(print, epochs=15, sizes={"train": 1078, "validation": 120, "test": 360})
    model.fit(..., callbacks=[backup_and_restore, ..., progress])   # after BackupAndRestore
"""

import builtins
import sys
import time

import keras

BAR_WIDTH = 24


def _number(value):
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _shown(logs):
    return {k: v for k, v in (logs or {}).items() if isinstance(v, (int, float)) and k != "learning_rate"}


def _device_text(model):
    """'CPU', '1 GPU', '2 replicas on 2 GPUs', with XLA on/off."""
    try:
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
    except ImportError:  # another Keras backend: no device list to read here
        gpus = []
    device = f"{len(gpus)} GPU{'s' if len(gpus) > 1 else ''}" if gpus else "CPU"
    replicas = getattr(getattr(model, "distribute_strategy", None), "num_replicas_in_sync", 1)
    if replicas and replicas > 1:
        device = f"{replicas} replicas on {device}"
    jit = getattr(model, "jit_compile", False)
    return f"{device}, XLA {'on' if jit else 'off'}"


class TrainingProgress(keras.callbacks.Callback):
    """Start-up line, a bar inside each epoch on a terminal, one line per epoch.

    Args:
        print_fn: prints one line (`print`, a logger's method, ...); None prints nothing.
        epochs: the run's total epochs (shown as `epoch 3/15`); default: what `fit` was given.
        sizes: optional {"train": n, "validation": n, "test": n} example counts for the start-up line.
        stream: where the bar is drawn; default sys.stdout when `print_fn` is the built-in `print`.
        interactive: draw the bar; default: `stream` is a terminal.
        min_interval: seconds between two redraws of the bar.
    """

    def __init__(self, print_fn=print, epochs=None, sizes=None, stream=None, interactive=None, min_interval=0.1):
        super().__init__()
        self.print_fn = print_fn
        self.epochs = epochs
        self.sizes = dict(sizes or {})
        if stream is None and print_fn is builtins.print:
            stream = sys.stdout
        self.stream = stream
        if interactive is None:
            interactive = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self.interactive = bool(interactive and stream is not None)
        self.min_interval = min_interval
        self._drawn = False

    # --- helpers -------------------------------------------------------------------------------

    def _print(self, line):
        if self.print_fn is not None:
            self._clear_bar()
            self.print_fn(line)

    def _clear_bar(self):
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    def _total_epochs(self):
        return self.epochs or (self.params or {}).get("epochs")

    def start_line(self):
        parts = []
        if self.sizes:
            parts.append(" / ".join(f"{count:,} {name}" for name, count in self.sizes.items()) + " examples")
        steps = (self.params or {}).get("steps")
        if steps:
            parts.append(f"{steps:,} steps per epoch")
        try:
            parts.append(f"{self.model.count_params():,} parameters")
        except ValueError:  # not built yet: nothing to count
            pass
        parts.append(_device_text(self.model))
        start = int(getattr(self.model, "_initial_epoch", 0) or 0)  # set by BackupAndRestore on resume
        total = self._total_epochs()
        parts.append(f"resuming at epoch {start + 1}/{total}" if start else f"{total} epochs")
        return "training: " + " · ".join(parts)

    def _bar(self, batch, logs):
        steps = (self.params or {}).get("steps")
        elapsed = time.perf_counter() - self._epoch_started
        done = batch + 1
        if steps:
            filled = int(BAR_WIDTH * done / steps)
            bar = "=" * filled + (">" if filled < BAR_WIDTH else "") + " " * (BAR_WIDTH - filled - 1)
            remaining = elapsed / done * (steps - done)
            counter = f"[{bar[:BAR_WIDTH]}] {done}/{steps}"
            timing = f"{elapsed:.1f}s, ETA {remaining:.1f}s"
        else:
            counter, timing = f"{done} batches", f"{elapsed:.1f}s"
        metrics = " ".join(f"{k}={_number(v)}" for k, v in _shown(logs).items())
        line = f"epoch {self._epoch + 1}/{self._total_epochs()} {counter} {metrics} {timing}"
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    # --- Keras hooks ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._print(self.start_line())

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_started = time.perf_counter()
        self._last_draw = 0.0

    def on_train_batch_end(self, batch, logs=None):
        if not self.interactive or self.print_fn is None:
            return
        now = time.perf_counter()
        if now - self._last_draw >= self.min_interval:
            self._last_draw = now
            self._bar(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        shown = " ".join(f"{k}={v:.4f}" for k, v in _shown(logs).items())
        self._print(f"epoch {epoch + 1}/{self._total_epochs()} {shown} ({time.perf_counter() - self._epoch_started:.1f}s)")

    def on_train_end(self, logs=None):
        if self.stream is not None:
            self._clear_bar()


def EpochProgress(print_fn, epochs):
    """The former one-line-per-epoch printer's signature; now a `TrainingProgress`."""
    return TrainingProgress(print_fn, epochs)
