"""Training: `train_on_dataset()` (what `kerasseg train` runs) and `train()` below it.

Both write one kind of run folder (`kerasseg.run`: config.json, best.keras,
last.keras, log.csv, tensorboard/, curves.png, resume state). Kill the process
and call again with the same folder: it continues from the last completed
epoch and stops at the same total number of epochs. Everything (loss, model,
classes, every image) is checked before the folder is touched.

`train_on_dataset()` takes a registered dataset by name and records how to
rebuild the data in config.json, so its runs can be evaluated, compared and
published into the zoo; `train()` takes any tf.data pipelines.
"""

import math
import os
import warnings

from kerasseg import run

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
SCHEDULES = ("cosine", "plateau", "constant")
STRATEGIES = ("none", "data-parallel", "mirrored", "multiworker")
BACKENDS = ("tensorflow", "jax")
TASKS = ("semantic", "instances")
MONITOR = run.MONITOR


class NaNLossError(ArithmeticError):
    """The loss became NaN or infinite during training."""


def make_strategy(name):
    """The distribution of Keras' backend by name.

    Args:
        name: "none"; "data-parallel" (every local device: on TensorFlow the
            same as "mirrored", on JAX `keras.distribution.DataParallel`);
            "mirrored" (TensorFlow: every local GPU, else every logical CPU
            device) or "multiworker" (TensorFlow: MultiWorkerMirrored,
            configured by the TF_CONFIG environment variable).

    Returns:
        On TensorFlow a `tf.distribute.Strategy` (create it before any other
        TensorFlow work: multi-worker collectives must be set up first); on
        JAX None for "none", else a `keras.distribution.DataParallel`.
    """
    import keras

    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    backend = keras.backend.backend()
    if backend != "tensorflow":
        if name in ("mirrored", "multiworker"):
            raise ValueError(f"--strategy {name} is TensorFlow's (tf.distribute); under "
                             f"KERAS_BACKEND={backend} use --strategy data-parallel")
        if name == "none":
            return None
        return keras.distribution.DataParallel(devices=keras.distribution.list_devices())
    import tensorflow as tf

    if name == "data-parallel":
        name = "mirrored"
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multiworker needs the TF_CONFIG environment variable "
                             "(the cluster's worker addresses and this worker's index)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def device_description():
    """What trains: the first GPU's name (with the backend's version), else the CPU's model."""
    import platform

    import keras

    from kerasseg.litert import cpu_description

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        gpus = [device for device in jax.devices() if device.platform == "gpu"]
        if gpus:
            return f"{gpus[0].device_kind} (JAX {jax.__version__})"
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
            return f"{name} (TensorFlow {tf.__version__})"
    return f"{cpu_description()}, {platform.machine()}, no GPU"


def default_jit_compile():
    """XLA on when a GPU is present: on CPU it was slower for every model measured with
    TensorFlow. On JAX every step is XLA-compiled (Keras' JAX trainer has no other mode)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def train_on_dataset(model, dataset, data_dir, out_dir="runs/train", model_args=None,
                     image_size=256, epochs=50, batch_size=8, loss="bce+dice", learning_rate=1e-3,
                     schedule="cosine", early_stopping=None, freeze_encoder_epochs=0,
                     augment=True, mask_mode=None, train_split="train", val_split="val",
                     val_fraction=0.2, seed=0,
                     masks_dir=None, mask_suffix="", jit_compile=None, precision="float32",
                     strategy="none", overwrite=False, command=None, verbose="auto",
                     on_error="raise", task="semantic", init_from=None, copy_paste=0.0,
                     freeze_semantic=False, head_dilations=None, foreground_from=None):
    """Trains a kerasseg builder on a registered dataset: what `kerasseg train` runs.

    The run folder's config.json records the builder, its arguments and how
    the data was split, so the run can be resumed, evaluated and published
    into the zoo (`zoo/publish.py`) whether it was started here or from the
    command line.

    Args:
        model: a builder or preset name (`kerasseg.models.build_model`), e.g. "unet".
        dataset: a dataset name (`kerasseg.data.NAMES`) or a mixture such as
            "ccp+pennfudan:2" (each part split by its own rules; ":N" repeats
            its training images N times per epoch, a share below 1 such as
            ":0.25" keeps that share of them).
        data_dir: the dataset folder, or a folder holding one named after it.
        out_dir: the run folder; an unfinished run there is resumed.
        model_args: builder arguments (e.g. {"backbone": "efficientnet_lite0"});
            `input_shape` defaults to (image_size, image_size, 3) and
            `num_classes` to the dataset's.
        image_size: square training size, a multiple of the model's stride.
        epochs: total epochs, counting those done before a resume.
        batch_size: global batch size.
        loss: a loss name for `kerasseg.losses.get`.
        learning_rate: the initial learning rate of Adam.
        schedule: "cosine", "plateau" or "constant" (see `train`).
        early_stopping: None, or epochs without a better validation Dice.
        freeze_encoder_epochs: train only the decoder for this many first
            epochs (see `train`).
        augment: True for `kerasseg.data.Augmentation()` on training images
            (flips and turns where the data allow, zoom in and out, colour), False
            for none, or an `Augmentation` of your own (e.g. `legacy()`).
        mask_mode: how masks are read (e.g. "parts" for CCP); None for the
            dataset's default.
        train_split: the split to train on.
        val_split: the split to validate on, or None for none.
        val_fraction: the share held out as "val" where there is no official split.
        seed: seed of the splits, the shuffles and the initial weights.
        masks_dir: for the "folder" dataset: the masks folder (default: data_dir).
        mask_suffix: for the "folder" dataset: what mask names add to image names.
        jit_compile: XLA; None means on where a GPU is present.
        precision: "float32", "mixed_float16" or "mixed_bfloat16".
        strategy: "none", "data-parallel" (all local devices, on TensorFlow or
            JAX), "mirrored" or "multiworker" (TensorFlow's); see `make_strategy`.
        overwrite: replace a finished run in `out_dir` (or an unfinished one
            with other settings) instead of refusing.
        command: the command line to record; None records the `kerasseg
            train` command equivalent to this call.
        verbose: Keras verbosity ("auto" shows a progress bar).
        on_error: "raise" to refuse the run at the first unreadable image or
            mask (named), "skip" to train on the others; the skipped files are
            listed in config.json ("skipped").
        task: "semantic" (a mask of classes) or "instances" (each object its own
            mask: `kerasseg.instances`; the builder's binary model gets a centre
            heatmap and offsets, the masks are read as instance ids where the
            dataset has them, `mask_mode` "instances", and as one instance each
            elsewhere).
        init_from: None, or a zoo name or `.keras` file whose weights start the
            builder's model (same builder and arguments), e.g. "person" for
            person instances; with task "instances", an instance model's file
            starts the whole model, heads included (same head_dilations).
        copy_paste: instances only: the chance that a training photo gets
            people from another training photo pasted on it
            (`kerasseg.instances.copy_paste`); 0 for none.
        freeze_semantic: instances only, with `init_from`: train the centre and
            offset heads alone, so the foreground stays exactly the mask of the
            semantic model they start from (`instance_model(freeze_semantic=True)`).
        head_dilations: instances only: the dilation of each 3x3 convolution of
            the centre and offset heads; None for `instance_model`'s default,
            (1, 2, 4, 8). Recorded, so a resume builds the same heads.
        foreground_from: instances only: None, or a binary semantic zoo name or
            `.keras` file read at `image_size`, whose mask is the trained model's
            foreground (`kerasseg.instances.model.with_foreground`): it stays
            frozen, and the instance model trains its centres and offsets to group it.

    Returns:
        The dict `train` returns.

    Example:
    >>> from kerasseg.train import train_on_dataset
    >>> result = train_on_dataset("unet", "ph2", "../shared/data", out_dir="runs/unet-ph2",
    ...                           model_args={"filters": 16}, image_size=128,
    ...                           epochs=40)  # doctest: +SKIP
    """
    import keras

    from kerasseg.data.augment import Augmentation
    from kerasseg.data.sources import source
    from kerasseg.models import build_model

    from kerasseg.data.records import check_image_size

    check_image_size(image_size, "image_size")
    if keras.backend.backend() not in BACKENDS:
        raise ValueError(f"kerasseg trains on the {' and '.join(BACKENDS)} backends, not "
                         f"{keras.backend.backend()}: set KERAS_BACKEND to one of them")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if not 0.0 <= float(copy_paste) <= 1.0:
        raise ValueError(f"copy_paste is a probability, between 0 and 1, got {copy_paste!r}")
    if copy_paste and task != "instances":
        raise ValueError("copy-paste pastes people as new instances: it needs --task instances")
    if head_dilations is not None and task != "instances":
        raise ValueError("--head-dilations shapes an instance model's heads: it needs "
                         "--task instances")
    if task == "instances":
        from kerasseg.instances.model import HEAD_DILATIONS, check_head_dilations

        head_dilations = check_head_dilations(HEAD_DILATIONS if head_dilations is None
                                              else head_dilations)
    if freeze_semantic and (task != "instances" or init_from is None):
        raise ValueError("--freeze-semantic trains an instance model's heads on a trained "
                         "semantic model: it needs --task instances and --init-from")
    foreground = None
    if foreground_from is not None:
        if task != "instances":
            raise ValueError("--foreground-from gives an instance model another model's mask: "
                             "it needs --task instances")
        foreground = _foreground_model(foreground_from, image_size)
    if task == "instances":
        from kerasseg.data.sources import WITH_INSTANCE_IDS, has_instance_ids

        if strategy == "multiworker":
            raise ValueError("instance models do not train with --strategy multiworker (its "
                             "hand-written step scores semantic masks); use data-parallel")

        if not has_instance_ids(dataset):
            # One id per image everywhere: nothing would teach where one person ends.
            raise ValueError(f"--task instances needs masks with instance ids (several people "
                             f"per image, one id each): {dataset} has none; mix in a dataset "
                             f"that has them ({', '.join(WITH_INSTANCE_IDS)}), e.g. "
                             f"--dataset {WITH_INSTANCE_IDS[0]}+{dataset}")
        mask_mode = mask_mode or "instances"
    # Multi-worker collectives must be set up before any other TensorFlow work.
    distribution = make_strategy(strategy)
    from kerasseg.data.pipeline import default_loader

    loader = default_loader()

    def split(name):
        return source(dataset, data_dir, name, val_fraction=val_fraction, seed=seed,
                      mask_suffix=mask_suffix, masks_dir=masks_dir, mode=mask_mode)

    train_source = split(train_split)
    val_source = split(val_split) if val_split not in (None, "none") else None
    given_args = dict(model_args or {})
    model_args = dict(given_args)
    model_args.setdefault("input_shape", (image_size, image_size, 3))
    model_args.setdefault("num_classes", train_source.num_classes)
    if task == "instances" and model_args["num_classes"] != 1:
        raise ValueError(f"instance training reads each mask as instance ids of one kind of "
                         f"object; {dataset} (mask mode {train_source.mode}) has "
                         f"{len(train_source.class_names)} classes: use a dataset or --mask-mode "
                         "with instance ids or one object, e.g. --dataset pennfudan")
    # Fail on a bad argument before reading any image.
    try:
        build_model(model, **model_args)
    except TypeError as error:  # a value of the wrong type, deep in the builder
        given = " ".join(f"--arg {name}={value!r}" for name, value in given_args.items())
        raise ValueError(f"--model {model} cannot be built with {given or 'its defaults'}: "
                         f"{error}") from None

    def build_semantic():
        return build_model(model, **model_args)

    def build_instances(semantic=None):
        from kerasseg.instances.model import instance_model

        return instance_model(build_semantic() if semantic is None else semantic,
                              head_dilations=head_dilations,
                              freeze_semantic=freeze_semantic)

    start, start_task = _initial_weights(init_from, build_semantic,
                                         build_instances if task == "instances" else None)
    # Replicas must agree on the number of steps: no ragged last batch across devices.
    if strategy != "none" and len(train_source.records) < batch_size:
        raise ValueError(
            f"the {train_split} split has {len(train_source.records)} images, fewer than one "
            f"batch of {batch_size}; --strategy {strategy} drops a last partial batch "
            "(the replicas must agree on the steps), so there would be nothing to train on: "
            "lower --batch-size")
    # keras.distribution (JAX) splits every batch evenly across the devices, validation's
    # too: it gets whole batches only (tf.distribute splits a ragged last batch itself).
    whole_val_batches = distribution is not None and keras.backend.backend() != "tensorflow"
    if whole_val_batches:
        replicas = _replicas(distribution)
        if batch_size % replicas:
            raise ValueError(f"--batch-size {batch_size} does not split evenly across the "
                             f"{replicas} devices of --strategy {strategy}: give a multiple "
                             f"of {replicas}")
        if val_source is not None and len(val_source.records) < batch_size:
            raise ValueError(
                f"the {val_split} split has {len(val_source.records)} images, fewer than one "
                f"batch of {batch_size}; --strategy {strategy} on {keras.backend.backend()} "
                "validates on whole batches only: lower --batch-size")
        left_out = len(val_source.records) % batch_size if val_source is not None else 0
        if left_out:
            warnings.warn(f"validation during training sees {len(val_source.records) - left_out}"
                          f" of the {len(val_source.records)} {val_split} images (whole batches "
                          f"of {batch_size}, split across {replicas} devices); `kerasseg "
                          "evaluate` scores them all", stacklevel=2)
    recipe = augment if isinstance(augment, Augmentation) else Augmentation() if augment else None
    skipped = {"train": [], "val": []}   # filled as train() reads every file once
    made = None
    if task == "instances":
        from kerasseg.instances import targets as made
    pasting = None
    if copy_paste:
        from kerasseg.instances.copy_paste import CopyPaste

        pasting = CopyPaste.from_source(train_source, image_size, recipe, probability=copy_paste)
    train_data = train_source.dataset(image_size, batch_size=batch_size, shuffle=True,
                                      augment=pasting or recipe, seed=seed,
                                      drop_remainder=strategy != "none", on_error=on_error,
                                      skipped=skipped["train"], loader=loader, epochs=epochs,
                                      targets=made)
    val_data = val_source and val_source.dataset(image_size, batch_size=batch_size,
                                                 on_error=on_error, skipped=skipped["val"],
                                                 loader=loader, targets=made,
                                                 drop_remainder=whole_val_batches)
    if command is None:
        command = _command_line(model, given_args, dataset, data_dir, out_dir, locals())
    config = {
        "command": command,
        "model": model,
        "model_args": {k: list(v) if isinstance(v, tuple) else v for k, v in model_args.items()},
        "dataset": dataset, "mask_mode": train_source.mode, "data_dir": data_dir,
        "image_size": image_size, "train_split": train_split,
        "val_split": val_split if val_source else "none", "train_images": len(train_source.records),
        "train_parts": train_source.parts, "val_parts": val_source.parts if val_source else {},
        "val_images": len(val_source.records) if val_source else 0,
        "val_fraction": val_fraction, "seed": seed, "batch_size": batch_size,
        "augment": augment if isinstance(augment, bool) else recipe.settings(),
        "backend": keras.backend.backend(), "loader": loader, "device": device_description(),
    }
    if on_error == "skip":   # absent otherwise, so runs from before the option still resume
        config["skipped"] = skipped
    config.update(task=task, init_from=init_from)
    if copy_paste:   # absent otherwise, so runs from before the option still resume
        config["copy_paste"] = float(copy_paste)
    if freeze_semantic:   # likewise
        config["freeze_semantic"] = True
    if task == "instances":   # instance runs from before it: run.INSTANCE_HEADS_BEFORE
        config["head_dilations"] = list(head_dilations)
    if foreground_from is not None:   # absent otherwise, so older runs still resume
        config["foreground_from"] = foreground_from
    keras.utils.set_random_seed(seed)

    def build():
        if start_task == "instances":   # an instance model goes on training, heads and all
            built = build_instances()
            built.set_weights(start)
        else:
            built = build_semantic()
            if start is not None:
                built.set_weights(start)
            if task == "instances":
                built = build_instances(built)
        if foreground is not None:
            from kerasseg.instances.model import with_foreground

            built = with_foreground(built, foreground())
        return built

    return train(build, train_data, val_data,
                 out_dir=out_dir, epochs=epochs, loss=loss, num_classes=train_source.num_classes,
                 learning_rate=learning_rate, schedule=schedule, early_stopping=early_stopping,
                 freeze_encoder_epochs=freeze_encoder_epochs, jit_compile=jit_compile,
                 precision=precision, strategy=distribution if strategy != "none" else None,
                 config=config, overwrite=overwrite, verbose=verbose)


def _initial_weights(init_from, build_semantic, build_instances=None):
    """The weights of `init_from` (a zoo name or .keras file), checked layer by layer against
    the model they start, and that model's task: (None, None) without `init_from`; a semantic
    model starts `build_semantic()`'s model, an instance model `build_instances()`'s (given for
    instance runs only)."""
    if init_from is None:
        return None, None
    import keras

    from kerasseg import zoo
    from kerasseg.instances.model import is_instance_model
    from kerasseg.saving import load_keras_model

    source = zoo.load(init_from) if zoo.is_name(init_from) else load_keras_model(init_from)
    # A model with another's foreground (`with_foreground`) starts from its own instance model.
    source = next((layer for layer in source.layers if isinstance(layer, keras.Model)
                   and is_instance_model(layer)), source)
    task = "instances" if is_instance_model(source) else "semantic"
    if task == "instances" and build_instances is None:
        raise ValueError(f"--init-from {init_from} is an instance model: it starts --task "
                         "instances runs only")
    target = build_instances() if task == "instances" else build_semantic()
    ours = [(w.path, tuple(w.shape)) for w in target.weights]
    theirs = [(w.path, tuple(w.shape)) for w in source.weights]
    if [shape for _, shape in ours] != [shape for _, shape in theirs]:
        first = next(((a, b) for a, b in zip(ours, theirs) if a[1] != b[1]), None)
        detail = (f"{first[0][0]} is {first[0][1]} here, {first[1][1]} there" if first
                  else f"{len(ours)} weights here, {len(theirs)} there")
        raise ValueError(f"--init-from {init_from}: its weights do not fit the model to train "
                         f"({detail}); give the same --model and --arg values it was built with"
                         + (" and the same --head-dilations" if task == "instances" else ""))
    return source.get_weights(), task


def _foreground_model(name, image_size):
    """A function loading `name` (a zoo name or .keras file) afresh each call, after checking
    once that it is a binary semantic model that reads `image_size`."""
    from kerasseg import zoo
    from kerasseg.instances.model import is_instance_model
    from kerasseg.saving import load_keras_model

    def load():
        return zoo.load(name) if zoo.is_name(name) else load_keras_model(name)

    if not zoo.is_name(name) and not os.path.isfile(name):
        raise ValueError(f"--foreground-from {name}: neither a zoo model "
                         f"({', '.join(zoo.names())}) nor a .keras file")
    model = load()
    if is_instance_model(model) or model.output_shape[-1] != 1:
        raise ValueError(f"--foreground-from {name}: not a binary semantic model (its output "
                         f"has shape {model.output_shape})")
    if tuple(model.input_shape[1:3]) != (image_size, image_size):
        raise ValueError(f"--foreground-from {name} reads {model.input_shape[1]}x"
                         f"{model.input_shape[2]} images: give --image-size "
                         f"{model.input_shape[1]}")
    return load


def _command_line(model, model_args, dataset, data_dir, out_dir, settings):
    """The `kerasseg train` command that does what train_on_dataset(**settings) does."""
    import inspect
    import json
    import shlex

    words = ["kerasseg", "train", "--model", model]
    for name, value in model_args.items():
        words += ["--arg", f"{name}={value if isinstance(value, str) else json.dumps(value)}"]
    words += ["--dataset", dataset, "--data-dir", data_dir]
    defaults = inspect.signature(train_on_dataset).parameters
    for name in ("image_size", "epochs", "batch_size", "loss", "learning_rate", "schedule",
                 "early_stopping", "freeze_encoder_epochs", "mask_mode", "train_split",
                 "val_split", "val_fraction", "seed", "masks_dir", "mask_suffix", "precision",
                 "strategy", "on_error", "task", "init_from", "copy_paste", "foreground_from"):
        value = settings[name]
        if value != defaults[name].default:
            words += [f"--{name.replace('_', '-')}", "none" if value is None else str(value)]
    if settings["task"] == "instances":
        from kerasseg.instances.model import HEAD_DILATIONS

        if tuple(settings["head_dilations"]) != HEAD_DILATIONS:
            words += ["--head-dilations", ",".join(map(str, settings["head_dilations"]))]
    for name, flag in (("augment", "augment"), ("jit_compile", "xla"),
                       ("freeze_semantic", "freeze-semantic")):
        # A recipe of one's own has no flag; config.json records its settings.
        if isinstance(settings[name], bool) and settings[name] != defaults[name].default:
            words.append(f"--{flag}" if settings[name] else f"--no-{flag}")
    return shlex.join(words + ["--out", out_dir])


def train(model, train_data, val_data=None, out_dir="runs/train", epochs=10, loss="bce+dice",
          num_classes=1, learning_rate=1e-3, schedule="cosine", early_stopping=None,
          freeze_encoder_epochs=0, jit_compile=None, precision="float32", strategy=None,
          config=None, overwrite=False, verbose="auto"):
    """Trains a segmentation model and writes a run folder (see `kerasseg.run`).

    Args:
        model: a callable returning a fresh `keras.Model` (called inside the
            strategy scope and under the precision policy), or a built model
            (only with the default strategy and float32).
        train_data: batched (image, mask) pairs: a tf.data.Dataset (under
            TensorFlow), or a Grain pipeline of `kerasseg.data.build_dataset`
            holding at least `epochs` epochs (any backend).
        val_data: optional batched validation dataset of the same kind; needed
            for best.keras, the plateau schedule and early stopping.
        out_dir: the run folder; an unfinished run there is resumed.
        epochs: total epochs, counting those done before a resume.
        loss: a loss name for `kerasseg.losses.get` (e.g. "bce+dice") or a loss.
        num_classes: 1 for binary (one logit), else the number of classes.
        learning_rate: the initial learning rate of Adam.
        schedule: "cosine" (decay to 0 over all epochs), "plateau" (halve when
            validation Dice stalls for 5 epochs) or "constant".
        early_stopping: None, or the epochs without a better validation Dice
            after which to stop.
        freeze_encoder_epochs: for a model with a backbone encoder
            (`kerasseg.models.backbones.encoder_layers`): train only the rest
            for this many first epochs, the encoder's weights and BatchNorm
            statistics held as they are (e.g. ImageNet's), then all of it.
            The schedule runs over all epochs either way.
        jit_compile: XLA; None means on where a GPU is present.
        precision: "float32", "mixed_float16" or "mixed_bfloat16" (the model's
            last layer stays float32).
        strategy: None, or what `make_strategy` gives: a
            `tf.distribute.Strategy` or a `keras.distribution.Distribution`.
        config: a JSON-able dict stored in config.json (e.g. the command).
        overwrite: replace a finished run in `out_dir`, or an unfinished one
            with other settings, instead of refusing.
        verbose: Keras verbosity ("auto" shows a progress bar).

    Returns:
        A dict: "history" (per-epoch logs of the whole run, resumed parts
        included), "out_dir", "best" and "last" model paths, "epochs_run"
        (epochs trained by this call), "warnings" (e.g. the run diverged).

    Example:
    >>> from kerasseg import data, train, unet
    >>> result = train.train(
    ...     lambda: unet((128, 128, 3), filters=16),
    ...     data.load("ph2", "../shared/data", "train", 128, batch_size=8, shuffle=True),
    ...     data.load("ph2", "../shared/data", "val", 128, batch_size=8),
    ...     out_dir="runs/unet", epochs=40)  # doctest: +SKIP
    """
    import keras

    _check_settings(model, val_data, loss, epochs, precision, schedule, early_stopping, strategy,
                    freeze_encoder_epochs)
    jit_compile = default_jit_compile() if jit_compile is None else bool(jit_compile)
    if _is_grain(train_data):
        # Built by build_dataset: every image was read (and checked) then.
        if val_data is not None and not _is_grain(val_data):
            raise ValueError("train_data is a Grain pipeline: give val_data as one too")
        if train_data.epochs < epochs:
            raise ValueError(f"train_data holds {train_data.epochs} epochs of batches, fewer "
                             f"than the {epochs} to train: build it with epochs={epochs}")
        steps_per_epoch = train_data.per_epoch
    else:
        if keras.backend.backend() != "tensorflow":
            raise ValueError(f"under KERAS_BACKEND={keras.backend.backend()}, give Grain "
                             "pipelines (kerasseg.data.build_dataset(loader='grain'))")
        import tensorflow as tf

        strategy = strategy or tf.distribute.get_strategy()
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
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.DATA
        train_data = train_data.with_options(options)
        val_data = None if val_data is None else val_data.with_options(options)
    built, loss_fn, metric_args = _compile(
        model, strategy, precision, num_classes, loss, learning_rate,
        schedule, epochs * steps_per_epoch, jit_compile)
    freeze = _freeze_encoder(built, freeze_encoder_epochs)
    run_config = {"epochs": epochs, "loss": loss if isinstance(loss, str) else type(loss).__name__,
                  "num_classes": num_classes, "learning_rate": learning_rate,
                  "schedule": schedule, "early_stopping": early_stopping,
                  "jit_compile": jit_compile, "precision": precision,
                  "replicas": _replicas(strategy), **(config or {})}
    if freeze_encoder_epochs:   # absent when 0, so runs from before the option still resume
        run_config["freeze_encoder_epochs"] = freeze_encoder_epochs

    files = run.paths(out_dir)
    created = not os.path.exists(out_dir)
    lock = run.lock(out_dir)
    try:
        resumed_epoch, damaged = run.prepare(out_dir, files, run_config, overwrite)
        try:
            history, first_loss = _fit(built, strategy, train_data, val_data, resumed_epoch,
                                       epochs, files, damaged, schedule, early_stopping, loss_fn,
                                       metric_args, verbose, learning_rate, freeze)
        except BaseException as error:
            done = run.completed_epochs(files["backup"])
            if done == 0:
                # A run folder with no completed epoch is not a run: leave no
                # config.json behind to block the corrected command.
                run.remove_files(files)
            if isinstance(error, KeyboardInterrupt):
                raise run.Interrupted(run.interrupted_message(
                    out_dir, done, epochs, (config or {}).get("command"))) from None
            raise
        warning = divergence(run.read_log(files["log.csv"])[resumed_epoch:], first_loss)
        log = run.finish(files, diverged=warning is not None)
    finally:
        run.unlock(lock, out_dir, created)
    return {
        "history": log,
        "out_dir": out_dir,
        "best": files["best.keras"] if os.path.exists(files["best.keras"]) else None,
        "last": files["last.keras"],
        "epochs_run": len(history.epoch),
        "warnings": [warning] if warning else [],
        "skipped": [item for part in (config or {}).get("skipped", {}).values() for item in part],
    }


def _check_settings(model, val_data, loss, epochs, precision, schedule, early_stopping, strategy,
                    freeze_encoder_epochs):
    """ValueError for a setting train() cannot run with, before any image is read."""
    import keras

    from kerasseg import losses as klosses

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
    if isinstance(loss, str):
        klosses.get(loss)  # an unknown loss name fails here
    if not isinstance(freeze_encoder_epochs, int) or not 0 <= freeze_encoder_epochs < epochs:
        raise ValueError(f"freeze_encoder_epochs must be a whole number from 0 to epochs - 1 "
                         f"({epochs - 1}), got {freeze_encoder_epochs!r}")
    if freeze_encoder_epochs and _is_multiworker(strategy):
        raise ValueError("freeze_encoder_epochs is not available with the multiworker strategy "
                         "(its training step is traced once); use mirrored or none")


def _compile(model, strategy, precision, num_classes, loss, learning_rate, schedule, total_steps,
             jit_compile):
    """Builds the model (in the strategy scope, under the precision) and compiles it.

    Returns (the model, its loss function, the Dice/IoU arguments).
    """
    import keras

    from kerasseg import losses as klosses
    from kerasseg import metrics as kmetrics
    from kerasseg.instances.model import is_instance_model
    from kerasseg.models.blocks import outputs_logits

    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        with _scope(strategy):
            built = model() if callable(model) and not isinstance(model, keras.Model) else model
            if schedule == "cosine":
                rate = keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
            else:
                rate = learning_rate
            if is_instance_model(built):   # the instance task brings its loss and metrics
                from kerasseg.instances.model import InstanceLoss, foreground_metrics

                metric_args = {"num_classes": 1, "from_logits": False}
                loss_fn, metrics = InstanceLoss(), foreground_metrics()
            else:
                _check_classes(built, num_classes)
                metric_args = {"num_classes": num_classes, "from_logits": outputs_logits(built)}
                loss_fn = klosses.get(loss, from_logits=metric_args["from_logits"])
                metrics = [kmetrics.Dice(**metric_args), kmetrics.IoU(**metric_args)]
            built.compile(optimizer=keras.optimizers.Adam(rate), loss=loss_fn, metrics=metrics,
                          jit_compile=jit_compile)
            # Built here, for every variable (the encoder's too, for freeze_encoder_epochs),
            # not in the first training step: TensorFlow traces a step that creates
            # variables twice, and tracing is most of a small run's time on CPU.
            built.optimizer.build(built.trainable_variables)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    return built, loss_fn, metric_args


def _fit(model, strategy, train_data, val_data, resumed_epoch, epochs, files, damaged, schedule,
         early_stopping, loss_fn, metric_args, verbose, learning_rate, freeze=None):
    """Runs the epochs with the run folder's callbacks; returns (Keras's History, the loss
    of this call's first batch)."""
    import keras

    guard = _stop_on_nan()
    backup = run.backup_callback(files["backup"], guard, resumed_epoch)
    callbacks = [
        guard,  # first: it marks a non-finite epoch before anything saves it
        *([freeze] if freeze is not None else []),   # before the savers too (see _freeze_encoder)
        run.checkpoint_callback(files["last.keras"], guard),
    ]
    if val_data is not None:
        earlier = [row[MONITOR] for row in run.read_log(files["log.csv"]) if MONITOR in row]
        # A damaged best.keras was removed on resume: the next epoch writes a new one.
        best = max(earlier) if earlier and "best.keras" not in damaged else -math.inf
        callbacks.append(run.checkpoint_callback(files["best.keras"], guard, monitor=MONITOR,
                                                 best=best))
    callbacks += [
        run.log_callback(files["log.csv"], guard, append=resumed_epoch > 0),
        # After the models and the log: an epoch counts as done only once they
        # hold it, so a kill in between trains that epoch again.
        backup,
    ]
    if _has_tensorflow():   # Keras' TensorBoard callback writes through tf.summary
        callbacks.append(keras.callbacks.TensorBoard(files["tensorboard"]))
    if schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=MONITOR, mode="max",
                                                           factor=0.5, patience=5))
    if early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=MONITOR, mode="max",
                                                       patience=int(early_stopping)))
    try:
        if _is_grain(train_data):
            history = _fit_grain(model, strategy, train_data, val_data, resumed_epoch, epochs,
                                 callbacks, verbose)
        elif _is_multiworker(strategy):
            history = _fit_multiworker(model, strategy, train_data, val_data, resumed_epoch,
                                       epochs, callbacks, loss_fn, metric_args)
        else:
            # The pipelines shuffle themselves (seeded); fit's own shuffle only warns about it.
            history = model.fit(train_data, validation_data=val_data, epochs=epochs,
                                initial_epoch=resumed_epoch, callbacks=callbacks,
                                verbose=verbose, shuffle=False)
    except Exception as error:
        if not _is_tf_error(error):
            raise
        from kerasseg.data.pipeline import data_error

        found = data_error(error)
        if found is None:
            raise
        raise found from None
    out_dir = os.path.dirname(files["config.json"]) or "."
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
    run.repair_checkpoints(model, files, val_data is not None)
    return history, guard.first_loss


def _fit_grain(model, strategy, train_data, val_data, first_epoch, epochs, callbacks, verbose):
    """fit() over Grain pipelines: one iterator across all epochs (each epoch its own order
    and augmentation, see build_dataset), read by a pool of threads."""
    import grain

    # The augmentation is NumPy, which releases the GIL for much of its work.
    read = grain.ReadOptions(num_threads=min(16, os.cpu_count() or 1), prefetch_buffer_size=16)
    # Validation too reads one iterator throughout (fit keeps it when told the steps): the
    # same batches, epoch after epoch.
    validation = None if val_data is None else val_data.repeat().to_iter_dataset(read)
    with _scope(strategy):   # keras.distribution shards each batch across the devices
        return model.fit(train_data.epoch(first_epoch).to_iter_dataset(read),
                         validation_data=validation, epochs=epochs, initial_epoch=first_epoch,
                         steps_per_epoch=train_data.per_epoch,
                         validation_steps=val_data and val_data.per_epoch,
                         callbacks=callbacks, verbose=verbose, shuffle=False)


def _is_grain(data):
    return hasattr(data, "per_epoch") and hasattr(data, "epoch")


def _has_tensorflow():
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


def _is_tf_error(error):
    import sys

    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(error, tf.errors.OpError)


def _is_multiworker(strategy):
    import sys

    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def _scope(strategy):
    """The strategy's or distribution's scope; none for None."""
    import contextlib

    return contextlib.nullcontext() if strategy is None else strategy.scope()


def _replicas(strategy):
    if strategy is None:
        return 1
    if hasattr(strategy, "num_replicas_in_sync"):
        return strategy.num_replicas_in_sync
    return int(strategy.device_mesh.devices.size)


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


def _freeze_encoder(model, held_epochs):
    """The callback that holds the encoder for the first `held_epochs` epochs, or None for 0.

    The optimizer was built for every variable (in _compile), so it knows
    the encoder's when they start training, and a resume state saved in
    either phase loads into the same optimizer. It goes before the callbacks that
    save the model: each epoch ends with the encoder marked trainable again,
    so no checkpoint records a model whose encoder stays frozen.
    """
    import keras

    from kerasseg.models.backbones import encoder_layers

    if not held_epochs:
        return None
    layers = encoder_layers(model)
    if not layers:
        raise ValueError(f"freeze_encoder_epochs: model {model.name!r} has no backbone encoder "
                         "to freeze (build it with backbone=...)")

    class FreezeEncoder(keras.callbacks.Callback):
        traced_held = False   # which set of variables fit()'s training step was traced for

        def on_epoch_begin(self, epoch, logs=None):
            held = epoch < held_epochs
            for layer in layers:
                layer.trainable = not held
            if held != self.traced_held:
                self.model.make_train_function(force=True)
                self.traced_held = held

        def on_epoch_end(self, epoch, logs=None):
            for layer in layers:
                layer.trainable = True

    return FreezeEncoder()


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


def _weights_finite(model):
    from keras import ops

    return all(bool(ops.all(ops.isfinite(variable.value))) for variable in model.weights
               if "float" in str(variable.dtype))


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
