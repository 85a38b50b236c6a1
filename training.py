"""Feeding and scoring a network: the puzzle batches, the distribution strategy, the callbacks, the scoring loop.

The networks and their losses are ``model_utils``'s; this module is what runs around them
while they train and are scored (Keras). Like ``model_utils``, scripts import it only after
their input is checked, so bad input is reported before TensorFlow starts.
"""

import contextlib
import math
import time

import keras
import numpy as np

import run_folder
import tasks
import utils
from model_utils import DEFAULT_LOSS, heatmap_loss


# ------------------------------------------------------------------ scoring
def score_puzzles(
    model, originals, shuffled, permutation, grid, sigma, batch_size=256, progress=False, loss=DEFAULT_LOSS
):
    """Runs the model over puzzles batch by batch and scores both decodings.

    Heatmaps are made and dropped one batch at a time, so memory does not grow with the
    number of puzzles, and with the grid's K only by one batch's K heatmaps.

    Args:
        model: the U-Net, ``(N, H, W, 1)`` -> ``(N, H, W, K)``.
        originals: ``(N, H0, W0)`` uint8 digits.
        shuffled: ``(N, H, W)`` uint8 puzzles (padded size).
        permutation: ``(N, K)`` their true permutations.
        grid: ``(rows, cols)``.
        sigma: heatmap std used for the loss.
        batch_size: puzzles per forward pass.
        progress: show a Keras progress bar.
        loss: the run's training loss, ``"softmax"`` (the default) or ``"mse"``.

    Returns:
        ``(loss, metrics, first_heatmaps)``: the mean loss against the true heatmaps;
        ``{method: {metric: value}}`` for every decoding; the heatmaps of the first batch
        (for plots).
    """
    n = len(shuffled)
    bar = keras.utils.Progbar(n, unit_name="puzzle") if progress else None
    # predict_on_batch is the fast path, but under a MirroredStrategy (Keras 3.15) it
    # returns every replica's copy of the batch; predict() splits and gathers correctly.
    replicas = getattr(getattr(model, "distribute_strategy", None), "num_replicas_in_sync", 1)
    forward = model.predict_on_batch if replicas == 1 else lambda x: model.predict(x, batch_size=len(x), verbose=0)
    totals = {method: dict.fromkeys(utils.METRIC_NAMES, 0.0) for method in utils.DECODE_METHODS}
    loss_total, first_heatmaps = 0.0, None
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        heatmaps = np.asarray(forward(utils.to_model_input(shuffled[start:stop])))
        target = utils.make_heatmaps(permutation[start:stop], grid, shuffled.shape[1:3], sigma)
        loss_total += heatmap_loss(heatmaps, target, loss) * (stop - start)
        for method in utils.DECODE_METHODS:
            decoded = utils.decode_heatmaps(heatmaps, grid, method)
            scores = utils.jigsaw_scores(
                originals[start:stop], shuffled[start:stop], permutation[start:stop], decoded, grid
            )
            for name, values in scores.items():
                totals[method][name] += float(values.sum())
        if first_heatmaps is None:
            first_heatmaps = heatmaps
        if bar:
            bar.update(stop)
    metrics = {m: {name: total / n for name, total in values.items()} for m, values in totals.items()}
    return loss_total / n, metrics, first_heatmaps


# ----------------------------------------------------------------- training
def make_strategy(name):
    """The ``tf.distribute`` strategy for ``train.py --strategy``.

    Keras splits each global batch of PuzzleBatches across the strategy's replicas.
    ``multiworker`` reads the cluster from the ``TF_CONFIG`` environment variable, as
    every TensorFlow multi-worker job does; every host runs the same command.

    TensorFlow is imported here, not at the top: ``single`` under another Keras backend
    (``KERAS_BACKEND=jax`` on a GPU machine without TensorFlow) needs no strategy at all.

    Args:
        name: ``"single"`` (the default strategy: one device), ``"mirrored"`` (every local
            device) or ``"multiworker"``.
    """
    run_folder.check_choice("strategy", name)
    if name == "single" and keras.backend.backend() != "tensorflow":
        return OneDevice()
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return multiworker_strategy(tf)
    return tf.distribute.get_strategy()


def accelerator():
    """The accelerator Keras computes on, as a cell's record names it beside the CPU; None on the CPU alone.

    Returns:
        E.g. ``"NVIDIA H200, Keras tensorflow backend"`` (TensorFlow names the device) or
        ``"GPU, Keras jax backend"`` (Keras' device list gives its kind only), or None where
        every computation runs on the CPU.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        name = gpus and tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    else:
        try:
            devices = keras.distribution.list_devices()
        except (AttributeError, NotImplementedError):  # a backend without Keras' distribution API
            devices = []
        others = [device.split(":")[0].upper() for device in devices if not device.lower().startswith("cpu")]
        name = others[0] if others else None
    return f"{name}, Keras {backend} backend" if name else None


class OneDevice:
    """What ``train.py`` asks of a strategy, for one device under a backend other than TensorFlow's."""

    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()


def multiworker_strategy(tf):
    """MultiWorkerMirroredStrategy whose ``reduce`` takes what Keras 3's ``fit`` gives it.

    Keras 3.15 does not train under the plain strategy (keras-team/keras#20585): to learn
    the input shapes it reduces a whole ``(x, y)`` batch in one call, where the collective
    reduce takes one value at a time; and it averages each step's scalar loss over
    ``axis=0``, which a scalar does not have. Here each value is reduced on its own, and
    a scalar over the replicas only, which is what Keras means in both cases.
    """

    class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            def reduce_one(v):
                rank = self.experimental_local_results(v)[0].shape.rank
                return super(MultiWorkerStrategy, self).reduce(reduce_op, v, None if rank == 0 else axis)

            return tf.nest.map_structure(reduce_one, value)

    return MultiWorkerStrategy()


class PuzzleBatches(keras.utils.PyDataset):
    """Batches of (shuffled images, heatmap targets), made on demand.

    Batch ``i`` of epoch ``e`` is a pure function of ``(seed, e, i)``: its images and
    their shuffles come from generators seeded with those numbers, so runs repeat exactly
    and a resumed run sees the puzzles the uninterrupted one would have.

    ``images`` is an ``(N, H, W[, C])`` uint8 array, or ``data.ImageFiles``, which decodes
    only the files a batch needs; ``workers`` threads then make the next batches while the
    network trains. With ``gap``, each batch's images get blank margins (``utils.blank_margins``).
    """

    def __init__(self, images, grid, sigma, batch_size, seed, gap=0, workers=1):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.images, self.grid, self.sigma, self.gap = images, grid, sigma, gap
        self.batch_size, self.seed = batch_size, seed
        self.epoch = 0  # set by SetEpoch
        self._order_epoch, self._order = None, None

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index):
        return self.share(self.epoch, index, 0, 1)

    def share(self, epoch, index, part, parts):
        """Part ``part`` of ``parts`` of batch ``index`` of ``epoch``: its images ``part::parts``.

        They are shuffled exactly as the whole batch would shuffle them, and only they are read:
        the parts of a batch are the batch (``worker_dataset`` gives each worker its own).
        """
        order = self._order
        if self._order_epoch != epoch:  # a new epoch: a new order of the images
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.images))
            self._order_epoch, self._order = epoch, order
        chosen = order[index * self.batch_size : (index + 1) * self.batch_size]
        if hasattr(self.images, "draw"):  # crops.RandomCrops: a fresh crop for each (epoch, draw)
            images = self.images.draw(epoch, chosen[part::parts])
        else:
            images = self.images[chosen[part::parts]]
        if self.gap:
            images = utils.blank_margins(images, self.grid, self.gap)
        return self.pairs(images, [self.seed, epoch, index], len(chosen), slice(part, None, parts))

    def pairs(self, images, seed, total=None, mine=slice(None)):
        """One batch: ``(N, H, W, C)`` float32 puzzles and their ``(N, H, W, K)`` float32 heatmaps.

        ``images`` are the ``mine`` part of a batch of ``total`` (default: all of it); their
        permutations are those ``utils.shuffle_pieces`` draws for the whole batch from ``seed``.
        """
        k = math.prod(utils.parse_grid(self.grid))
        rng = np.random.default_rng(seed)
        permutation = rng.permuted(np.tile(np.arange(k, dtype=np.int64), (total or len(images), 1)), axis=1)[mine]
        shuffled = utils.apply_permutation(images, permutation, self.grid)
        targets = utils.make_heatmaps(permutation, self.grid, shuffled.shape[1:3], self.sigma)
        return utils.to_model_input(shuffled), targets


class DenoiseBatches(PuzzleBatches):
    """The control pretext's batches: (corrupted images, clean images), in PuzzleBatches' order."""

    def pairs(self, images, seed, total=None, mine=slice(None)):
        # A part of a batch draws its corruption from a seed of its own.
        return tasks.denoise_pairs(images, self.grid, seed if mine.start in (None, 0) and mine.step in (None, 1)
                                   else [*seed, mine.start])


class RandomBatches(keras.utils.PyDataset):
    """``steps`` batches of ``(x, targets(y))`` in a seeded random order, in epochs of at most 50 steps.

    transfer.py trains on few labels for a fixed number of steps: each pass over the
    examples comes in a new order, and an epoch is only a point to check the validation loss.
    Batch ``i`` of epoch ``e`` is a pure function of ``(seed, e, i)``, and every batch is
    full. The epoch is set by ``SetEpoch``, never counted here: Keras reads two batches to
    learn their shapes and then calls ``on_epoch_end`` before training starts, so a count of
    its calls runs one epoch ahead (the last epoch then read past the end of the order:
    empty batches, which oneDNN's convolution gradients reject and other CPUs train on as
    no data). ``x`` is one array, or a list of them (a model of several inputs) picked alike.
    """

    def __init__(self, x, y, batch_size, steps, seed, targets=None):
        super().__init__()
        self.x, self.y, self.targets = x, y, targets
        self.several = isinstance(x, (list, tuple))  # a model of several inputs: one array each, the same length
        x = x[0] if self.several else x
        self.batch_size = min(batch_size, len(x))
        self.epochs = math.ceil(steps / 50)
        self.steps_per_epoch = math.ceil(steps / self.epochs)
        passes = math.ceil(self.epochs * self.steps_per_epoch * self.batch_size / len(x))
        rng = np.random.default_rng(seed)
        self.order = np.concatenate([rng.permutation(len(x)) for _ in range(passes)])
        self.epoch = 0  # set by SetEpoch

    def __len__(self):
        return self.steps_per_epoch

    def __getitem__(self, index):
        if not (0 <= self.epoch < self.epochs and 0 <= index < self.steps_per_epoch):
            raise IndexError(f"batch {index} of epoch {self.epoch}: there are {self.steps_per_epoch} batches "
                             f"in each of {self.epochs} epochs")
        start = (self.epoch * self.steps_per_epoch + index) * self.batch_size
        pick = self.order[start : start + self.batch_size]
        y = self.y[pick]
        x = tuple(array[pick] for array in self.x) if self.several else self.x[pick]
        return x, y if self.targets is None else self.targets(y)


def worker_dataset(batches, strategy):
    """A multi-worker run's training input: every worker makes only its own part of each global batch.

    Keras' own path would give every worker every global batch and let TensorFlow keep each
    worker's part, so every worker would read (decode, for a folder) every image. Here each
    replica's part of global batch ``i`` of epoch ``e`` is ``PuzzleBatches.share(e, i, r, R)``
    (``R`` replicas in all), made by the worker that trains it. An epoch is its full global
    batches (the last, partial one is left out, so that no replica gets an empty part); the
    steps run on from the epoch ``batches.epoch`` holds when training starts (a resumed run's).

    Args:
        batches: the run's ``PuzzleBatches`` (or ``DenoiseBatches``).
        strategy: the multi-worker strategy.

    Returns:
        ``(dataset, steps_per_epoch)``: a ``tf.distribute`` dataset ``model.fit`` takes, and its steps an epoch.
    """
    import tensorflow as tf

    replicas = strategy.num_replicas_in_sync
    steps = len(batches.images) // batches.batch_size
    if steps == 0 or batches.batch_size < replicas:
        raise ValueError(f"--batch-size {batches.batch_size} over {len(batches.images)} training images leaves "
                         f"no full batch of at least one image for each of the {replicas} replicas")
    x, y = batches.pairs(np.zeros((1, *batches.images.shape[1:]), np.uint8), [0])  # the shapes; nothing read
    signature = (tf.TensorSpec((None, *x.shape[1:]), tf.float32), tf.TensorSpec((None, *y.shape[1:]), tf.float32))

    def make(context):
        local = replicas // context.num_input_pipelines  # the replicas this worker trains
        first = context.input_pipeline_id * local

        def generate():
            step = batches.epoch * steps  # SetEpoch has set the epoch training starts at
            while True:
                epoch, index = divmod(step, steps)
                for replica in range(first, first + local):  # consecutive elements go to the local replicas
                    yield batches.share(epoch, index, replica, replicas)
                step += 1

        return tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(2)

    return strategy.distribute_datasets_from_function(make), steps


class SetEpoch(keras.callbacks.Callback):
    """Tells the batches which epoch is starting (also the right one after --resume)."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.epoch = epoch


class Stopwatch(keras.callbacks.Callback):
    """Logs ``seconds``: the run's wall time of training so far, validation included.

    Args:
        before: seconds the run had trained before this fit began (an interrupted run's,
            continued with --resume), so that a resumed run counts its whole training.
    """

    def __init__(self, before=0.0):
        super().__init__()
        self.before, self.started = before, time.perf_counter()

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def elapsed(self):
        """Seconds of training so far, the run's before this fit included."""
        return self.before + time.perf_counter() - self.started

    def on_epoch_end(self, epoch, logs=None):
        logs["seconds"] = round(self.elapsed(), 1)


class JigsawValidation(keras.callbacks.Callback):
    """After each epoch, solves the fixed validation puzzles and logs loss and metrics.

    It adds ``val_loss``, ``val_exact`` and ``val_pieces`` to the epoch's logs, before the
    checkpoint, CSV logger and progress bar read them.
    """

    def __init__(self, digits, grid, sigma, seed, decode, batch_size, loss=DEFAULT_LOSS):
        super().__init__()
        self.digits, self.grid, self.sigma, self.loss = digits, grid, sigma, loss
        self.decode, self.batch_size = decode, batch_size
        # Fixed puzzles, from a seed stream of their own: training batches use (seed, epoch,
        # index) and (seed, epoch), and no run has a millionth epoch.
        self.shuffled, self.permutation = utils.shuffle_pieces(digits, grid, [seed, 1_000_003])
        self.metrics = None

    def score(self):
        """Scores the model now; returns the validation loss and keeps the metrics."""
        loss, self.metrics, _ = score_puzzles(self.model, self.digits, self.shuffled, self.permutation, self.grid,
                                              self.sigma, self.batch_size, loss=self.loss)
        return loss

    def on_epoch_end(self, epoch, logs=None):
        loss = self.score()
        logs["val_loss"] = loss
        logs["val_exact"] = self.metrics[self.decode]["exact"]
        logs["val_pieces"] = self.metrics[self.decode]["pieces"]
