"""The run folder: what `kerasseg train` and `kerasseg.train.train()` write, resume and publish.

A run folder holds:
    config.json        everything needed to rerun (and to check a resume is the same run)
    best.keras         the model with the best validation Dice (when there is validation data)
    last.keras         the model after the last completed epoch
    log.csv            one row of losses and metrics per epoch
    tensorboard/       TensorBoard logs
    curves.png         the training curves
    backup/            resume state while the run is unfinished (deleted at the end)
    .lock              held by the process training in the folder

Every model and state file is written to a temporary name and renamed into
place, so a kill never leaves a truncated one; a folder whose run completed
no epoch is not a run and is started over. This module owns those rules; the
training loop (`kerasseg.train`) only calls them.
"""

import csv
import json
import math
import os
import warnings

CONFIG = "config.json"
FILES = ("best.keras", "last.keras", "log.csv", "curves.png", "tensorboard", "backup")
MONITOR = "val_dice"  # the log column best.keras is chosen by (higher is better)


# Settings config.json gained later, with the value every run before them had: such runs
# resume with the same settings.
RECORDED_LATER = {"backend": "tensorflow", "loader": "tf.data", "task": "semantic",
                  "init_from": None}
# Instance runs gained `head_dilations` when the default heads grew from two convolutions.
INSTANCE_HEADS_BEFORE = [1, 2]


def paths(out_dir):
    """The path of each file of the run folder `out_dir`, by name (config.json and FILES)."""
    return {name: os.path.join(out_dir, name) for name in (CONFIG,) + FILES}


def read_config(out_dir, finished=True):
    """The config.json of the run in `out_dir` as a dict.

    Raises ValueError naming the folder when it holds no run, or (with
    `finished`) when its run has not finished.
    """
    path = os.path.join(out_dir, CONFIG)
    if not os.path.isfile(path):
        raise ValueError(f"{out_dir}: not a run folder (no {CONFIG})")
    with open(path) as f:
        config = json.load(f)
    if finished and not config.get("finished"):
        raise ValueError(f"{out_dir}: the run is not finished (rerun its command to resume it)")
    return config


def finish(files, diverged):
    """Marks the run finished (and diverged, if so), draws its curves and drops the resume state.

    Returns the log rows of the whole run.
    """
    import shutil

    from kerasseg.viz import save_training_curves

    log = read_log(files["log.csv"])
    if log:
        save_training_curves(files["curves.png"], log)
    with open(files[CONFIG]) as f:
        saved = json.load(f)
    saved["finished"] = True
    if diverged:
        saved["diverged"] = True
    write_json(files[CONFIG], saved)
    shutil.rmtree(files["backup"], ignore_errors=True)  # finished: nothing to resume
    return log


FILES = ("best.keras", "last.keras", "log.csv", "curves.png", "tensorboard", "backup")


def prepare(out_dir, paths, run_config, overwrite):
    """Checks the run folder and writes config.json; called with the folder locked.

    Returns (epochs already done, 0 for a new run; the names of damaged
    checkpoints removed for the resume to write again).
    """
    done = completed_epochs(paths["backup"])
    if os.path.exists(paths["config.json"]):
        with open(paths["config.json"]) as f:
            existing = json.load(f)
        finished = existing.pop("finished", False)
        existing.pop("diverged", None)
        if finished and not overwrite:
            raise ValueError(f"{out_dir} holds a finished run; choose another output folder or "
                             "overwrite it (--force)")
        # The command line may differ in spelling (flag order), and a run may move to
        # another machine; the settings may not change.
        old, new = {**RECORDED_LATER, **existing}, {**RECORDED_LATER, **run_config}
        if old["task"] == "instances":
            old.setdefault("head_dilations", INSTANCE_HEADS_BEFORE)
        changed = sorted(k for k in set(old) | set(new)
                         if k not in ("command", "device") and old.get(k) != new.get(k))
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
            remove_files(paths, keep_config=True)
            done = 0
    else:
        # Never mix a run into files kerasseg train did not write (or whose
        # config.json is gone): --force replaces runs, nothing else.
        foreign = [name for name in FILES if os.path.exists(paths[name])]
        if foreign:
            raise ValueError(f"{out_dir} holds {', '.join(foreign)} but no config.json: not a "
                             "kerasseg run folder; choose another output folder")
    write_json(paths["config.json"], run_config)

    damaged = []
    if done:
        # A resume repairs what an interrupted write (by an older version, or a
        # full disk) left: an unreadable checkpoint is removed and written again.
        for name in ("best.keras", "last.keras"):
            if os.path.exists(paths[name]) and not is_keras_file(paths[name]):
                warnings.warn(f"{paths[name]} is damaged ({os.path.getsize(paths[name])} bytes, "
                              "not a .keras archive); the resumed run writes it again",
                              stacklevel=3)
                os.remove(paths[name])
                damaged.append(name)
    for name in os.listdir(out_dir):
        if name.startswith(".tmp-"):  # left by a kill during an atomic write
            os.remove(os.path.join(out_dir, name))
    # An epoch logged after the last backup is trained again: drop its row.
    rows = read_log(paths["log.csv"])
    if done == 0 and os.path.exists(paths["log.csv"]):
        os.remove(paths["log.csv"])
    elif len(rows) > done:
        write_log(paths["log.csv"], rows[:done])
    return done, damaged


def remove_files(paths, keep_config=False):
    import shutil

    for name in FILES + (() if keep_config else ("config.json",)):
        path = paths[name]
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.remove(path)


def completed_epochs(backup_dir):
    """The epochs completed by the run whose resume state is in `backup_dir` (0 if none)."""
    metadata = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(metadata):
        return 0
    with open(metadata) as f:
        return int(json.load(f)["epoch"])


def is_keras_file(path):
    import zipfile

    return os.path.isfile(path) and zipfile.is_zipfile(path)


class Interrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); the message says what was kept and how to resume."""


def interrupted_message(out_dir, done, epochs, command=None):
    """What a person needs after Ctrl-C: where it stopped, what is kept, how to go on."""
    if done == 0:
        kept = ("nothing was kept (no epoch had finished), so the run folder was not left "
                "behind; run the same command to start again")
    else:
        kept = (f"{out_dir} keeps epoch {done} (last.keras, best.keras where there is "
                "validation, and the state to resume from); run the same command to resume "
                "from it")
    return (f"interrupted in epoch {done + 1} of {epochs}: {kept}"
            + (f":\n  {command}" if command else ""))


def lock(out_dir):
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


def unlock(handle, out_dir, created):
    """Releases the lock and removes its file; removes the folder again if this call created
    it and left it empty."""
    lock_path = os.path.join(out_dir, ".lock")
    if handle is not None and os.path.exists(lock_path):
        os.remove(lock_path)  # still held: no other process can be using it
    if created and os.path.isdir(out_dir) and not os.listdir(out_dir):
        os.rmdir(out_dir)
    if handle is not None:
        handle.close()  # closing releases the flock


def save_atomically(save, path):
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


def repair_checkpoints(model, paths, has_validation):
    """After the epochs: a last.keras (or best.keras) a resume could not rewrite is written now.

    A resume with no epochs left trains nothing, so a checkpoint removed as
    damaged is written here from the restored weights, those of the last
    completed epoch: last.keras exactly; best.keras when that epoch was the best.
    """
    if not is_keras_file(paths["last.keras"]):
        save_atomically(model.save, paths["last.keras"])
    if has_validation and not is_keras_file(paths["best.keras"]):
        log = read_log(paths["log.csv"])
        scores = [row.get(MONITOR, -math.inf) for row in log]
        if scores and scores[-1] == max(scores):
            save_atomically(model.save, paths["best.keras"])
        else:
            warnings.warn(f"{paths['best.keras']} was damaged and its epoch cannot be recovered; "
                          "last.keras holds the final model", stacklevel=3)


def checkpoint_callback(path, guard, monitor=None, best=-math.inf):
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
            save_atomically(self.model.save, path)

    return Checkpoint()


def backup_callback(folder, guard, done):
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
            save_atomically(self.model.save_weights, os.path.join(folder, name))
            write_json(metadata, {"epoch": epoch + 1, "weights": name})
            for old in os.listdir(folder):
                if old.endswith(".weights.h5") and old != name:
                    os.remove(os.path.join(folder, old))
            self.saved_epoch = epoch + 1

    return Backup()


def log_callback(path, guard, append):
    """Keras's CSVLogger, leaving out an epoch that ended non-finite (it is not kept)."""
    import keras

    class Logger(keras.callbacks.CSVLogger):
        def on_epoch_end(self, epoch, logs=None):
            if not guard.where:
                super().on_epoch_end(epoch, logs)

    return Logger(path, append=append)


def read_log(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None, "NA")}
                for row in csv.DictReader(f)]


def write_log(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["epoch"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (int(v) if k == "epoch" else v) for k, v in row.items()})


def write_json(path, data):
    temporary = f"{path}.tmp"
    with open(temporary, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(temporary, path)
