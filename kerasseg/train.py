"""Training: one `train()` call (and `kerasseg train`) writes a complete, resumable run folder.

A run folder holds:
    config.json        everything needed to rerun (and to check a resume is the same run)
    best.keras         the model with the best validation Dice (when there is validation data)
    last.keras         the model after the last completed epoch
    log.csv            one row of losses and metrics per epoch
    tensorboard/       TensorBoard logs
    curves.png         the training curves
    backup/            resume state while the run is unfinished (deleted at the end)
    .lock              held by the process training in the folder

Kill the process and call `train()` again with the same folder: it continues
from the last completed epoch and stops at the same total number of epochs.
Every model and state file is written to a temporary name and renamed into
place, so a kill never leaves a truncated one; a folder whose run completed
no epoch is not a run and is started over. Everything (loss, model, classes,
every image) is checked before the folder is touched.
"""

import csv
import json
import math
import os
import warnings

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
        overwrite: replace a finished run in `out_dir`, or an unfinished one
            with other settings, instead of refusing.
        verbose: Keras verbosity ("auto" shows a progress bar).

    Returns:
        A dict: "history" (per-epoch logs of the whole run, resumed parts
        included), "out_dir", "best" and "last" model paths, "epochs_run"
        (epochs trained by this call), "warnings" (e.g. the run diverged).

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
    if isinstance(loss, str):
        klosses.get(loss)  # an unknown loss name fails here, before any image is read

    # Everything is checked before the run folder is touched, so a mistake in
    # the command never costs an earlier run its files. Counting the batches
    # reads every image once (the pipelines cache them, so the first epoch
    # reads nothing again): a bad file stops here, named.
    steps_per_epoch = _count_batches(train_data, "training")
    if val_data is not None:
        _count_batches(val_data, "validation")
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
            _check_classes(built, num_classes)
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

    paths = {name: os.path.join(out_dir, name) for name in
             ("config.json", "best.keras", "last.keras", "log.csv", "tensorboard", "curves.png",
              "backup")}
    run_config = {"epochs": epochs, "loss": loss if isinstance(loss, str) else type(loss).__name__,
                  "num_classes": num_classes, "learning_rate": learning_rate,
                  "schedule": schedule, "early_stopping": early_stopping,
                  "jit_compile": jit_compile, "precision": precision,
                  "replicas": strategy.num_replicas_in_sync, **(config or {})}
    created = not os.path.exists(out_dir)
    lock = _lock_run_folder(out_dir)
    try:
        resumed_epoch, damaged = _prepare_out_dir(out_dir, paths, run_config, overwrite)
        try:
            history, first_loss = _fit(built, strategy, train_data, val_data, resumed_epoch,
                                       epochs, paths, damaged, schedule, early_stopping, loss_fn,
                                       metric_args, verbose, learning_rate)
        except BaseException:
            if backup_epoch(paths["backup"]) == 0:
                # A run folder with no completed epoch is not a run: leave no
                # config.json behind to block the corrected command.
                _remove_run_files(paths)
            raise
        log = _read_log(paths["log.csv"])
        if log:
            save_training_curves(paths["curves.png"], log)
        with open(paths["config.json"]) as f:
            saved = json.load(f)
        saved["finished"] = True
        warning = divergence(log[resumed_epoch:], first_loss)
        if warning:
            saved["diverged"] = True
        _write_json(paths["config.json"], saved)
        import shutil

        shutil.rmtree(paths["backup"], ignore_errors=True)  # finished: nothing to resume
    finally:
        _unlock_run_folder(lock, out_dir, created)
    return {
        "history": log,
        "out_dir": out_dir,
        "best": paths["best.keras"] if os.path.exists(paths["best.keras"]) else None,
        "last": paths["last.keras"],
        "epochs_run": len(history.epoch),
        "warnings": [warning] if warning else [],
    }


def _fit(model, strategy, train_data, val_data, resumed_epoch, epochs, paths, damaged, schedule,
         early_stopping, loss_fn, metric_args, verbose, learning_rate):
    """Runs the epochs with the run folder's callbacks; returns (Keras's History, the loss
    of this call's first batch)."""
    import keras
    import tensorflow as tf

    guard = _stop_on_nan()
    backup = _backup(paths["backup"], guard, resumed_epoch)
    callbacks = [
        guard,  # first: it marks a non-finite epoch before anything saves it
        _checkpoint(paths["last.keras"], guard),
    ]
    if val_data is not None:
        earlier = [row[MONITOR] for row in _read_log(paths["log.csv"]) if MONITOR in row]
        # A damaged best.keras was removed on resume: the next epoch writes a new one.
        best = max(earlier) if earlier and "best.keras" not in damaged else -math.inf
        callbacks.append(_checkpoint(paths["best.keras"], guard, monitor=MONITOR, best=best))
    callbacks += [
        _csv_logger(paths["log.csv"], guard, append=resumed_epoch > 0),
        # After the models and the log: an epoch counts as done only once they
        # hold it, so a kill in between trains that epoch again.
        backup,
        keras.callbacks.TensorBoard(paths["tensorboard"]),
    ]
    if schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=MONITOR, mode="max",
                                                           factor=0.5, patience=5))
    if early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=MONITOR, mode="max",
                                                       patience=int(early_stopping)))
    try:
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            history = _fit_multiworker(model, strategy, train_data, val_data, resumed_epoch,
                                       epochs, callbacks, loss_fn, metric_args)
        else:
            # The pipelines shuffle themselves (seeded); fit's own shuffle only warns about it.
            history = model.fit(train_data, validation_data=val_data, epochs=epochs,
                                initial_epoch=resumed_epoch, callbacks=callbacks,
                                verbose=verbose, shuffle=False)
    except tf.errors.OpError as error:
        from kerasseg.data.pipeline import data_error

        found = data_error(error)
        if found is None:
            raise
        raise found from None
    out_dir = os.path.dirname(paths["config.json"]) or "."
    if guard.where:
        done = backup.saved_epoch
        if done:
            models = "last.keras, best.keras" if val_data is not None else "last.keras"
            kept = (f"The run folder {out_dir} keeps epoch {done}, the last finite one "
                    f"({models} and the state to resume from): rerunning the same command "
                    "resumes from it; add --force (overwrite=True) to start over with other "
                    "settings.")
        else:
            kept = (f"No epoch completed, so {out_dir} keeps nothing of this run; rerun with "
                    "other settings.")
        raise NaNLossError(
            f"training stopped: {guard.describe()}. Lower the learning rate (it was "
            f"{learning_rate}), check the data for bad values, or use --precision float32. "
            + kept)
    _repair_checkpoints(model, paths, val_data is not None)
    return history, guard.first_loss


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
    hooks.on_train_begin()  # the backup callback restores the weights here
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


RUN_FILES = ("best.keras", "last.keras", "log.csv", "curves.png", "tensorboard", "backup")


def _prepare_out_dir(out_dir, paths, run_config, overwrite):
    """Checks the run folder and writes config.json; called with the folder locked.

    Returns (epochs already done, 0 for a new run; the names of damaged
    checkpoints removed for the resume to write again).
    """
    done = backup_epoch(paths["backup"])
    if os.path.exists(paths["config.json"]):
        with open(paths["config.json"]) as f:
            existing = json.load(f)
        finished = existing.pop("finished", False)
        existing.pop("diverged", None)
        if finished and not overwrite:
            raise ValueError(f"{out_dir} holds a finished run; choose another output folder or "
                             "overwrite it (--force)")
        # The command line may differ in spelling (flag order); the settings may not.
        changed = sorted(k for k in set(existing) | set(run_config)
                         if k != "command" and existing.get(k) != run_config.get(k))
        # A folder whose run never completed an epoch (a crash or a kill in the
        # first one) holds nothing worth keeping: it is started again.
        if not finished and changed and done and not overwrite:
            raise ValueError(f"{out_dir} holds an unfinished run with different settings "
                             f"({', '.join(changed)}); rerun it with the same settings to resume, "
                             "start it over with these settings (--force), or choose another "
                             "output folder")
        if finished or changed or not done:
            models = [name for name in ("best.keras", "last.keras") if os.path.exists(paths[name])]
            if not finished and not done and models and not overwrite:
                warnings.warn(f"{out_dir} holds an unfinished run with no state to resume from "
                              f"(no completed epoch in backup/): starting over, replacing "
                              f"{' and '.join(models)}", stacklevel=3)
            _remove_run_files(paths, keep_config=True)
            done = 0
    else:
        # Never mix a run into files kerasseg train did not write (or whose
        # config.json is gone): --force replaces runs, nothing else.
        foreign = [name for name in RUN_FILES if os.path.exists(paths[name])]
        if foreign:
            raise ValueError(f"{out_dir} holds {', '.join(foreign)} but no config.json: not a "
                             "kerasseg run folder; choose another output folder")
    _write_json(paths["config.json"], run_config)

    damaged = []
    if done:
        # A resume repairs what an interrupted write (by an older version, or a
        # full disk) left: an unreadable checkpoint is removed and written again.
        for name in ("best.keras", "last.keras"):
            if os.path.exists(paths[name]) and not _is_keras_file(paths[name]):
                warnings.warn(f"{paths[name]} is damaged ({os.path.getsize(paths[name])} bytes, "
                              "not a .keras archive); the resumed run writes it again",
                              stacklevel=3)
                os.remove(paths[name])
                damaged.append(name)
    for name in os.listdir(out_dir):
        if name.startswith(".tmp-"):  # left by a kill during an atomic write
            os.remove(os.path.join(out_dir, name))
    # An epoch logged after the last backup is trained again: drop its row.
    rows = _read_log(paths["log.csv"])
    if done == 0 and os.path.exists(paths["log.csv"]):
        os.remove(paths["log.csv"])
    elif len(rows) > done:
        _write_log(paths["log.csv"], rows[:done])
    return done, damaged


def _remove_run_files(paths, keep_config=False):
    import shutil

    for name in RUN_FILES + (() if keep_config else ("config.json",)):
        path = paths[name]
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.remove(path)


def backup_epoch(backup_dir):
    """The epochs completed by the run whose resume state is in `backup_dir` (0 if none)."""
    metadata = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(metadata):
        return 0
    with open(metadata) as f:
        return int(json.load(f)["epoch"])


def _is_keras_file(path):
    import zipfile

    return os.path.isfile(path) and zipfile.is_zipfile(path)


def _lock_run_folder(out_dir):
    """Creates `out_dir` and locks it for this process; ValueError if another holds it.

    The lock (flock on out_dir/.lock) dies with its process, so a killed run
    never leaves its folder locked. Where fcntl is missing (Windows) there is
    no lock.
    """
    try:
        import fcntl
    except ImportError:
        os.makedirs(out_dir, exist_ok=True)
        return None
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"--out {out_dir}: is a file, not a run folder")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, ".lock")
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        hint = (" (with --strategy multiworker, give each worker its own --out)"
                if "TF_CONFIG" in os.environ else "")
        raise ValueError(f"{out_dir} is in use by another kerasseg train"
                         + (f" (process {holder})" if holder else "")
                         + f"; wait for it to end or choose another output folder{hint}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _unlock_run_folder(handle, out_dir, created):
    """Releases the lock; removes the folder again if this call created it and left it empty."""
    lock_path = os.path.join(out_dir, ".lock")
    if created and os.path.isdir(out_dir) and set(os.listdir(out_dir)) <= {".lock"}:
        if os.path.exists(lock_path):
            os.remove(lock_path)
        os.rmdir(out_dir)
    if handle is not None:
        handle.close()  # closing releases the flock


def _check_classes(model, num_classes):
    channels = model.output_shape[-1]
    if channels != num_classes:
        kind = "binary masks (one foreground channel)" if num_classes == 1 else \
            f"{num_classes} classes"
        raise ValueError(f"the model {model.name} outputs {channels} channels but the data has "
                         f"{kind}; build it with num_classes={num_classes}")


def divergence(log, first_loss=None):
    """A warning if the last epoch of `log` shows the run diverged, else None.

    Training should bring the loss below that of its first batch (an untrained
    model): a last-epoch training loss over 10 times it, a validation loss
    over 100 times it (overfitting raises it, never that far) or either over
    1e6 means the weights left any solution, whatever the Dice says.
    """
    if not log:
        return None
    last = log[-1]
    for key, factor, what in (("loss", 10, "training loss"), ("val_loss", 100, "validation loss")):
        value = last.get(key)
        if value is None:
            continue
        if first_loss and value > factor * first_loss:
            return (f"the run diverged: the {what} of its last epoch is {value:.4g}, "
                    f"{value / first_loss:.0f} times the {first_loss:.4g} of its first batch; its "
                    "models are unlikely to be useful. Lower the learning rate and train again "
                    "(--force)")
        if value > 1e6:
            return (f"the run diverged: the {what} of its last epoch is {value:.4g}; its models "
                    "are unlikely to be useful. Lower the learning rate and train again (--force)")
    return None


def _save_atomically(save, path):
    """Calls save(temporary path) beside `path`, then renames it into place.

    A kill mid-write leaves the previous file whole (and a .tmp- file the next
    resume removes), never a truncated one.
    """
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    # Keras infers the format from the name's ending, so the temporary keeps it.
    suffix = ".weights.h5" if name.endswith(".weights.h5") else os.path.splitext(name)[1]
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    os.close(handle)
    try:
        save(temporary)
        with open(temporary, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _weights_finite(model):
    from keras import ops

    return all(bool(ops.all(ops.isfinite(variable.value))) for variable in model.weights
               if "float" in str(variable.dtype))


def _repair_checkpoints(model, paths, has_validation):
    """After the epochs: a last.keras (or best.keras) a resume could not rewrite is written now.

    A resume with no epochs left trains nothing, so a checkpoint removed as
    damaged is written here from the restored weights, those of the last
    completed epoch: last.keras exactly; best.keras when that epoch was the best.
    """
    if not _is_keras_file(paths["last.keras"]):
        _save_atomically(model.save, paths["last.keras"])
    if has_validation and not _is_keras_file(paths["best.keras"]):
        log = _read_log(paths["log.csv"])
        scores = [row.get(MONITOR, -math.inf) for row in log]
        if scores and scores[-1] == max(scores):
            _save_atomically(model.save, paths["best.keras"])
        else:
            warnings.warn(f"{paths['best.keras']} was damaged and its epoch cannot be recovered; "
                          "last.keras holds the final model", stacklevel=3)


def _checkpoint(path, guard, monitor=None, best=-math.inf):
    """A callback writing the model to `path` atomically at each finite epoch's end.

    With `monitor`, only when that log value beats the best so far (higher is better).
    """
    import keras

    class Checkpoint(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best = best

        def on_epoch_end(self, epoch, logs=None):
            if guard.where:
                return
            if monitor:
                value = (logs or {}).get(monitor)
                if value is None or not math.isfinite(float(value)) or float(value) <= self.best:
                    return
                self.best = float(value)
            _save_atomically(self.model.save, path)

    return Checkpoint()


def _backup(folder, guard, done):
    """The resume state: weights and optimizer after each finite epoch, written atomically.

    Keras's BackupAndRestore writes in place (a kill mid-write leaves a
    damaged state) and deletes the state whenever training ends, a NaN stop
    included; this one keeps the last good epoch. The weights go to a file
    named by epoch, then training_metadata.json names it: that write is the
    commit, so the two always agree.
    """
    import keras

    metadata = os.path.join(folder, "training_metadata.json")

    class Backup(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.saved_epoch = done

        def on_train_begin(self, logs=None):
            if not os.path.exists(metadata):
                return
            with open(metadata) as f:
                state = json.load(f)
            weights = os.path.join(folder, state.get("weights", "latest.weights.h5"))
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            try:
                self.model.load_weights(weights)
            except Exception as error:  # noqa: BLE001 (h5py and Keras raise several types)
                raise ValueError(f"{weights}: the resume state is damaged ({error}); start the run "
                                 "over (--force)") from error

        def on_epoch_end(self, epoch, logs=None):
            if guard.where:
                return
            os.makedirs(folder, exist_ok=True)
            name = f"epoch-{epoch + 1:04d}.weights.h5"
            _save_atomically(self.model.save_weights, os.path.join(folder, name))
            _write_json(metadata, {"epoch": epoch + 1, "weights": name})
            for old in os.listdir(folder):
                if old.endswith(".weights.h5") and old != name:
                    os.remove(os.path.join(folder, old))
            self.saved_epoch = epoch + 1

    return Backup()


def _csv_logger(path, guard, append):
    """Keras's CSVLogger, leaving out an epoch that ended non-finite (it is not kept)."""
    import keras

    class Logger(keras.callbacks.CSVLogger):
        def on_epoch_end(self, epoch, logs=None):
            if not guard.where:
                super().on_epoch_end(epoch, logs)

    return Logger(path, append=append)


def _count_batches(dataset, name="training"):
    """The batches of one pass, read in full: a bad file fails here, named, before any training."""
    import tensorflow as tf

    if int(dataset.cardinality()) == tf.data.INFINITE_CARDINALITY:
        raise ValueError(f"the {name} dataset repeats forever; give a finite dataset "
                         "(one pass = one epoch)")
    try:
        count = sum(1 for _ in dataset)
    except tf.errors.OpError as error:
        from kerasseg.data.pipeline import data_error

        found = data_error(error)
        if found is None:
            raise
        raise found from None
    if count == 0:
        raise ValueError(f"the {name} dataset yields no batch (is it empty, or smaller than one "
                         "batch with drop_remainder?)")
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
    """A callback that stops at the first non-finite loss, validation loss or weight.

    It remembers where (train() then raises); the savers skip the epoch it
    marks, so the run folder keeps only finite models.
    """
    import keras

    class StopOnNaN(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.where, self.value, self.what, self._epoch = None, None, None, 0
            self.first_loss = None  # the untrained model's loss: what divergence is judged by

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            value = (logs or {}).get("loss")
            if value is not None and not math.isfinite(float(value)):
                self._stop((self._epoch, batch), float(value), "loss")
            elif value is not None and self.first_loss is None:
                self.first_loss = float(value)

        def on_epoch_end(self, epoch, logs=None):
            if self.where:
                return
            for key in ("loss", "val_loss"):
                value = (logs or {}).get(key)
                if value is not None and not math.isfinite(float(value)):
                    what = key.replace("val_", "validation ")
                    return self._stop((epoch, None), float(value), what)
            if not _weights_finite(self.model):
                self._stop((epoch, None), None, "weights")

        def _stop(self, where, value, what):
            self.where, self.value, self.what = where, value, what
            self.model.stop_training = True

        def describe(self):
            epoch, batch = self.where
            if self.what == "weights":
                return f"the weights became NaN or infinite at epoch {epoch + 1}"
            at = f"epoch {epoch + 1}" + ("" if batch is None else f", batch {batch + 1}")
            return f"the {self.what} became {self.value} at {at}"

    return StopOnNaN()
