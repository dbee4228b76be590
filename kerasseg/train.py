"""Training: one `train()` call (and `kerasseg train`) writes a complete, resumable run folder.

A run folder holds:
    config.json        everything needed to rerun (and to check a resume is the same run)
    best.keras         the model with the best validation Dice (when there is validation data)
    last.keras         the model after the last completed epoch
    log.csv            one row of losses and metrics per epoch
    tensorboard/       TensorBoard logs
    curves.png         the training curves
    backup/            resume state while the run is unfinished (deleted at the end)

Kill the process and call `train()` again with the same folder: it continues
from the last completed epoch and stops at the same total number of epochs.
"""

import csv
import json
import os

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
SCHEDULES = ("cosine", "plateau", "constant")
STRATEGIES = ("none", "mirrored", "multiworker")
MONITOR = "val_dice"


class NaNLossError(ArithmeticError):
    """The loss became NaN or infinite during training."""


def make_strategy(name):
    """A tf.distribute strategy by name.

    Args:
        name: "none" (default strategy), "mirrored" (every local GPU, else
            every logical CPU device) or "multiworker" (MultiWorkerMirrored,
            configured by the TF_CONFIG environment variable).

    Returns:
        A `tf.distribute.Strategy`. Create it before any other TensorFlow
        work: multi-worker collectives must be set up first.
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multiworker needs the TF_CONFIG environment variable "
                             "(the cluster's worker addresses and this worker's index)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def default_jit_compile():
    """XLA on when a GPU is present: on CPU it was slower for every model measured."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def train(model, train_data, val_data=None, out_dir="runs/train", epochs=10, loss="bce+dice",
          num_classes=1, learning_rate=1e-3, schedule="cosine", early_stopping=None,
          jit_compile=None, precision="float32", strategy=None, config=None, overwrite=False,
          verbose="auto"):
    """Trains a segmentation model and writes a run folder (see the module doc).

    Args:
        model: a callable returning a fresh `keras.Model` (called inside the
            strategy scope and under the precision policy), or a built model
            (only with the default strategy and float32).
        train_data: a tf.data.Dataset of batched (image, mask) pairs.
        val_data: optional batched validation dataset; needed for best.keras,
            the plateau schedule and early stopping.
        out_dir: the run folder; an unfinished run there is resumed.
        epochs: total epochs, counting those done before a resume.
        loss: a loss name for `kerasseg.losses.get` (e.g. "bce+dice") or a loss.
        num_classes: 1 for binary (one logit), else the number of classes.
        learning_rate: the initial learning rate of Adam.
        schedule: "cosine" (decay to 0 over all epochs), "plateau" (halve when
            validation Dice stalls for 5 epochs) or "constant".
        early_stopping: None, or the epochs without a better validation Dice
            after which to stop.
        jit_compile: XLA; None means on where a GPU is present.
        precision: "float32", "mixed_float16" or "mixed_bfloat16" (the model's
            last layer stays float32).
        strategy: None or a `tf.distribute.Strategy` (see `make_strategy`).
        config: a JSON-able dict stored in config.json (e.g. the command).
        overwrite: replace a finished run in `out_dir` instead of refusing.
        verbose: Keras verbosity ("auto" shows a progress bar).

    Returns:
        A dict: "history" (per-epoch logs of the whole run, resumed parts
        included), "out_dir", "best" and "last" model paths, "epochs_run"
        (epochs trained by this call).

    Example:
    >>> from kerasseg import train, unet
    >>> from kerasseg.data import ph2
    >>> result = train.train(
    ...     lambda: unet((128, 128, 3), filters=16),
    ...     ph2.load("data/ph2", "train", 128, batch_size=8),
    ...     ph2.load("data/ph2", "val", 128, batch_size=8),
    ...     out_dir="runs/unet", epochs=40)  # doctest: +SKIP
    """
    import keras
    import tensorflow as tf

    from kerasseg import losses as klosses
    from kerasseg import metrics as kmetrics
    from kerasseg.models.blocks import outputs_logits
    from kerasseg.viz import save_training_curves

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if val_data is None and (schedule == "plateau" or early_stopping):
        raise ValueError("the plateau schedule and early stopping watch validation Dice: "
                         "give validation data")
    if isinstance(model, keras.Model) and (strategy is not None or precision != "float32"):
        raise ValueError("with a strategy or a mixed precision, pass a function that builds the "
                         "model, so it is built in the strategy scope under that precision")
    strategy = strategy or tf.distribute.get_strategy()
    jit_compile = default_jit_compile() if jit_compile is None else bool(jit_compile)

    paths = {name: os.path.join(out_dir, name) for name in
             ("config.json", "best.keras", "last.keras", "log.csv", "tensorboard", "curves.png",
              "backup")}
    run_config = {"epochs": epochs, "loss": loss if isinstance(loss, str) else type(loss).__name__,
                  "num_classes": num_classes, "learning_rate": learning_rate,
                  "schedule": schedule, "early_stopping": early_stopping,
                  "jit_compile": jit_compile, "precision": precision,
                  "replicas": strategy.num_replicas_in_sync, **(config or {})}
    resumed_epoch = _prepare_out_dir(out_dir, paths, run_config, overwrite)

    steps_per_epoch = _count_batches(train_data)
    # Across workers, split the examples (the default first tries to split files,
    # which these pipelines do not read through tf.data).
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train_data = train_data.with_options(options)
    val_data = None if val_data is None else val_data.with_options(options)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        with strategy.scope():
            built = model() if callable(model) and not isinstance(model, keras.Model) else model
            if schedule == "cosine":
                rate = keras.optimizers.schedules.CosineDecay(learning_rate,
                                                              epochs * steps_per_epoch)
            else:
                rate = learning_rate
            metric_args = {"num_classes": num_classes, "from_logits": outputs_logits(built)}
            loss_fn = klosses.get(loss, from_logits=metric_args["from_logits"])
            built.compile(
                optimizer=keras.optimizers.Adam(rate),
                loss=loss_fn,
                metrics=[kmetrics.Dice(**metric_args), kmetrics.IoU(**metric_args)],
                jit_compile=jit_compile,
            )
    finally:
        keras.config.set_dtype_policy(previous_policy)

    callbacks = [
        keras.callbacks.BackupAndRestore(paths["backup"]),
        _stop_on_nan(),
        keras.callbacks.ModelCheckpoint(paths["last.keras"]),
        keras.callbacks.CSVLogger(paths["log.csv"], append=resumed_epoch > 0),
        keras.callbacks.TensorBoard(paths["tensorboard"]),
    ]
    if val_data is not None:
        best = keras.callbacks.ModelCheckpoint(paths["best.keras"], monitor=MONITOR, mode="max",
                                               save_best_only=True)
        earlier = [row[MONITOR] for row in _read_log(paths["log.csv"]) if MONITOR in row]
        if earlier:
            best.best = max(earlier)
        callbacks.append(best)
    if schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=MONITOR, mode="max",
                                                           factor=0.5, patience=5))
    if early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=MONITOR, mode="max",
                                                       patience=int(early_stopping)))

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        history = _fit_multiworker(built, strategy, train_data, val_data, resumed_epoch, epochs,
                                   callbacks, loss_fn, metric_args)
    else:
        # The pipelines shuffle themselves (seeded); fit's own shuffle only warns about it.
        history = built.fit(train_data, validation_data=val_data, epochs=epochs,
                            callbacks=callbacks, verbose=verbose, shuffle=False)
    nan_stop = callbacks[1]
    if nan_stop.where:
        raise NaNLossError(
            f"training stopped: the loss became {nan_stop.value} at epoch {nan_stop.where[0] + 1}, "
            f"batch {nan_stop.where[1] + 1}. Lower the learning rate (it was {learning_rate}), "
            f"check the data for bad values, or use --precision float32. The run folder "
            f"{out_dir} keeps the last good epoch; rerunning resumes from it.")

    log = _read_log(paths["log.csv"])
    if log:
        save_training_curves(paths["curves.png"], log)
    with open(paths["config.json"]) as f:
        saved = json.load(f)
    saved["finished"] = True
    _write_json(paths["config.json"], saved)
    return {
        "history": log,
        "out_dir": out_dir,
        "best": paths["best.keras"] if os.path.exists(paths["best.keras"]) else None,
        "last": paths["last.keras"],
        "epochs_run": len(history.epoch),
    }


def _fit_multiworker(model, strategy, train_data, val_data, first_epoch, epochs, callbacks,
                     loss_fn, metric_args):
    """The training loop under MultiWorkerMirroredStrategy, driving the same callbacks as fit().

    Keras 3's fit() cannot run under this strategy (its first-batch build and
    its per-step log reduction call strategy.reduce in ways it rejects;
    keras-team/keras#20585), so the step is written out: each replica's loss,
    scaled by the replica count, gives gradients that the optimizer all-reduces
    across workers; BatchNorm statistics are averaged across workers after each
    epoch. Validation runs whole on every worker (the weights are the
    same everywhere), so it needs no collectives. Logs hold the training loss and
    the validation loss, Dice and IoU.
    """
    import keras
    import tensorflow as tf

    from kerasseg import metrics as kmetrics

    replicas = strategy.num_replicas_in_sync

    @tf.function
    def train_step(images, masks):
        def replica_step(x, y):
            with tf.GradientTape() as tape:
                value = loss_fn(y, model(x, training=True))
                scaled = value / replicas
            gradients = tape.gradient(scaled, model.trainable_variables)
            model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return value

        values = strategy.run(replica_step, args=(images, masks))
        return strategy.reduce("MEAN", values, axis=None)

    # BatchNorm's moving statistics are updated from each worker's own batches
    # and are not all-reduced like the gradients: average them after every
    # epoch, so every worker holds the same model (and the statistics of all data).
    statistics = [v for v in model.non_trainable_variables if v.dtype.startswith("float")]

    @tf.function
    def average_statistics():
        def replica_average():
            context = tf.distribute.get_replica_context()
            for variable in statistics:
                variable.assign(context.all_reduce("MEAN", tf.identity(variable.value)))

        strategy.run(replica_average)

    infer = tf.function(lambda x: model(x, training=False))

    def validate():
        dice, iou = kmetrics.Dice(**metric_args), kmetrics.IoU(**metric_args)
        total, count = 0.0, 0
        for images, masks in val_data:
            outputs = infer(images)
            total += float(loss_fn(masks, outputs)) * int(images.shape[0])
            count += int(images.shape[0])
            dice.update_state(masks, outputs)
            iou.update_state(masks, outputs)
        return {"val_loss": total / count, "val_dice": float(dice.result()),
                "val_iou": float(iou.result())}

    batches = strategy.experimental_distribute_dataset(train_data)
    history = keras.callbacks.History()
    hooks = keras.callbacks.CallbackList([*callbacks, history], model=model)
    model.stop_training = False
    hooks.on_train_begin()  # BackupAndRestore restores the weights here
    logs = {}
    for epoch in range(first_epoch, epochs):
        hooks.on_epoch_begin(epoch)
        total, steps = 0.0, 0
        for step, (images, masks) in enumerate(batches):
            hooks.on_train_batch_begin(step)
            value = float(train_step(images, masks))
            total, steps = total + value, steps + 1
            hooks.on_train_batch_end(step, {"loss": value})
            if model.stop_training:
                break
        average_statistics()
        logs = {"loss": total / max(steps, 1)}
        if val_data is not None and not model.stop_training:
            logs.update(validate())
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    hooks.on_train_end(logs)
    return history


def _prepare_out_dir(out_dir, paths, run_config, overwrite):
    """Creates or checks the run folder. Returns the epochs already done (0 for a new run)."""
    os.makedirs(out_dir, exist_ok=True)
    if os.path.exists(paths["config.json"]):
        with open(paths["config.json"]) as f:
            existing = json.load(f)
        finished = existing.pop("finished", False)
        if finished and not overwrite:
            raise ValueError(f"{out_dir} holds a finished run; choose another output folder or "
                             "overwrite it (--force)")
        # The command line may differ in spelling (flag order); the settings may not.
        changed = sorted(k for k in set(existing) | set(run_config)
                         if k != "command" and existing.get(k) != run_config.get(k))
        if not finished and changed:
            raise ValueError(f"{out_dir} holds an unfinished run with different settings "
                             f"({', '.join(changed)}); rerun it with the same settings to resume, "
                             "or choose another output folder")
        if finished:
            import shutil

            for name in ("best.keras", "last.keras", "log.csv", "curves.png"):
                if os.path.exists(paths[name]):
                    os.remove(paths[name])
            shutil.rmtree(paths["tensorboard"], ignore_errors=True)
    _write_json(paths["config.json"], run_config)

    done = 0
    metadata = os.path.join(paths["backup"], "training_metadata.json")
    if os.path.exists(metadata):
        with open(metadata) as f:
            done = int(json.load(f)["epoch"])  # epochs completed
    # An epoch logged after the last backup is trained again: drop its row.
    rows = _read_log(paths["log.csv"])
    if done == 0 and os.path.exists(paths["log.csv"]):
        os.remove(paths["log.csv"])
    elif len(rows) > done:
        _write_log(paths["log.csv"], rows[:done])
    return done


def _count_batches(dataset):
    import tensorflow as tf

    count = int(dataset.cardinality())
    if count == tf.data.INFINITE_CARDINALITY:
        raise ValueError("the training dataset repeats forever; give a finite dataset "
                         "(one pass = one epoch)")
    if count < 0:
        count = sum(1 for _ in dataset)
    if count == 0:
        raise ValueError("the training dataset is empty")
    return count


def _read_log(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None, "NA")}
                for row in csv.DictReader(f)]


def _write_log(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["epoch"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (int(v) if k == "epoch" else v) for k, v in row.items()})


def _write_json(path, data):
    temporary = f"{path}.tmp"
    with open(temporary, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(temporary, path)


def _stop_on_nan():
    """A callback that stops at the first NaN/inf loss and remembers where (train() then raises)."""
    import math

    import keras

    class StopOnNaN(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.where, self.value, self._epoch = None, None, 0

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            value = (logs or {}).get("loss")
            if value is not None and not math.isfinite(float(value)):
                self.where, self.value = (self._epoch, batch), float(value)
                self.model.stop_training = True

    return StopOnNaN()
