"""The networks and their losses: the piece transformer, the original U-Net, the heatmap losses (Keras).

Everything that builds, loads or copies a network, and the losses it trains with. Feeding a
network batches and scoring it is ``training``'s job. train.py and evaluate.py import this
module only after they have checked their flags and data, so bad input is reported at once,
before TensorFlow starts.
"""

import math
import re

import keras
import numpy as np
from keras import layers, ops

import run_folder
import utils
from run_folder import EDGE_BIASES


def conv_block(x, filters, name, dtype=None):
    """Two 3x3 convolutions, each followed by batch norm and ReLU (the original port's block).

    Batch norm's moving statistics use momentum 0.9, not Keras' 0.99: with 0.99 they need
    hundreds of steps to forget their initial values, and a short run (the bundled sample
    gives 20 steps an epoch) then scores far worse in inference mode than it trains.
    """
    for i in (1, 2):
        # No bias: the batch norm right after adds its own offset.
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, dtype=dtype, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, dtype=dtype, name=f"{name}_bn{i}")(x)
        x = layers.ReLU(dtype=dtype, name=f"{name}_relu{i}")(x)
    return x


def build_unet(input_shape, num_outputs, filters=16, depth=2, dtype_policy=None, name="unet"):
    """Builds a U-Net: max-pool encoder, transposed-conv decoder, skip connections.

    With the defaults (16 filters, depth 2) it is the original port's network: blocks of 16, 32
    and 64 filters. Any input size works: the model zero-pads its input at the bottom and
    right to a multiple of ``2**depth`` and crops its output back, both inside the graph,
    so only standard Keras layers are used and the saved ``.keras`` file loads with plain
    ``keras.models.load_model``.

    Args:
        input_shape: ``(H, W, C)`` of one input image, e.g. ``(28, 28, 1)``.
        num_outputs: output channels, one heatmap per piece (``K = rows * cols``).
        filters: filters of the first level; each level down doubles them.
        depth: number of 2x downsamplings.
        dtype_policy: Keras dtype policy of the body, e.g. ``"mixed_bfloat16"``; None for
            the global policy. The heatmap layer and the crop after it are always float32.
        name: the model's name.

    Returns:
        A ``keras.Model`` from ``(N, H, W, C)`` float32 to ``(N, H, W, num_outputs)``
        float32 (linear output: heatmap values).
    """
    if len(input_shape) != 3 or any(int(d) < 1 for d in input_shape):
        raise ValueError(f"input_shape must be (H, W, C) of positive ints, got {input_shape}")
    for label, value, low in (("num_outputs", num_outputs, 1), ("filters", filters, 1), ("depth", depth, 0)):
        if int(value) != value or value < low:
            raise ValueError(f"{label} must be an integer >= {low}, got {value}")
    height, width, _ = input_shape
    multiple = 2**depth
    pad_h, pad_w = -height % multiple, -width % multiple

    inputs = keras.Input(shape=tuple(input_shape), name="shuffled")
    x = inputs
    if pad_h or pad_w:
        x = layers.ZeroPadding2D(((0, pad_h), (0, pad_w)), dtype=dtype_policy, name="pad")(x)

    skips = []
    for level in range(depth):
        x = conv_block(x, filters * 2**level, f"down{level}", dtype_policy)
        skips.append(x)
        x = layers.MaxPooling2D(2, dtype=dtype_policy, name=f"down{level}_pool")(x)

    x = conv_block(x, filters * 2**depth, "bottom", dtype_policy)

    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(filters * 2**level, 2, strides=2, dtype=dtype_policy, name=f"up{level}_upsample")(x)
        x = layers.Concatenate(dtype=dtype_policy, name=f"up{level}_skip")([x, skips[level]])
        x = conv_block(x, filters * 2**level, f"up{level}", dtype_policy)

    # float32 output, so a mixed-precision policy never degrades the heatmaps or the loss.
    # Zero-initialised: the first prediction is the all-zero map, already close to the
    # mostly-zero targets (MSE ~0.04 instead of ~1 with a random head), so no early steps
    # are spent just shrinking the output.
    x = layers.Conv2D(num_outputs, 1, kernel_initializer="zeros", dtype="float32", name="heatmaps")(x)
    if pad_h or pad_w:
        x = layers.Cropping2D(((0, pad_h), (0, pad_w)), dtype="float32", name="crop")(x)
    return keras.Model(inputs, x, name=name)


@keras.saving.register_keras_serializable(package="jigsaw")
class EdgeDissimilarity(layers.Layer):
    """How badly each pair of pieces would fit side by side: the cue classic jigsaw solvers use.

    For pieces ``i`` and ``j`` and each of four directions, a dissimilarity of the pixels that
    would touch: channel 0, ``j`` to the right of ``i`` (``i``'s right column against ``j``'s
    left column); 1, ``j`` below ``i``; 2, ``j`` to the left; 3, ``j`` above. Log-scaled,
    ``log(0.001 + d)``, so that near-perfect fits stand out. It depends on the pieces only, not
    on their slots, so a network that uses it stays shuffle-equivariant.

    ``measure="squared"``: ``d`` is the mean squared difference of the two touching lines.
    ``measure="gradient"``: each line is first continued one pixel towards the other from its
    gradient (``2 * b1 - b2``, the border solver's cost, ``borders.py``), both ways, so a
    smooth photograph continuing across the cut costs little. ``relative`` adds, per direction,
    how much worse the pair is than ``i``'s best candidate and than ``j``'s best candidate
    (``log d`` minus its row's and its column's minimum, the piece itself left out): whether
    two pieces are each other's best match, which a single pair's cost cannot say.

    Call: ``(N, H, W, C)`` puzzles, H and W multiples of the grid -> ``(N, K, K, 4)`` float32,
    or ``(N, K, K, 12)`` with ``relative`` (the four directions' ``log d``, then their row
    differences, then their column differences).
    """

    def __init__(self, grid, measure="squared", relative=False, **kwargs):
        super().__init__(**kwargs)
        self.grid = utils.parse_grid(grid)
        self.measure, self.relative = measure, bool(relative)
        utils.check_choice("border measure", measure, ("squared", "gradient"))

    def call(self, puzzles):
        channels = puzzles.shape[-1]
        pieces = cut_pieces(ops.cast(puzzles, "float32"), self.grid)
        k = pieces.shape[1]

        def flat(border):  # (N, K, length, C) -> (N, K, length * C)
            return ops.reshape(border, (-1, k, border.shape[2] * channels))

        right, left = flat(pieces[:, :, :, -1, :]), flat(pieces[:, :, :, 0, :])
        bottom, top = flat(pieces[:, :, -1, :, :]), flat(pieces[:, :, 0, :, :])
        if self.measure == "squared":
            to_right, below = _mean_squared_distance(right, left), _mean_squared_distance(bottom, top)
        else:
            ahead = {side: 2.0 * line - flat(inner) for side, line, inner in (
                ("right", right, pieces[:, :, :, -2, :]), ("left", left, pieces[:, :, :, 1, :]),
                ("bottom", bottom, pieces[:, :, -2, :, :]), ("top", top, pieces[:, :, 1, :, :]))}
            to_right = _mean_squared_distance(ahead["right"], left) + _mean_squared_distance(right, ahead["left"])
            below = _mean_squared_distance(ahead["bottom"], top) + _mean_squared_distance(bottom, ahead["top"])
        pairs = [to_right, below, ops.transpose(to_right, (0, 2, 1)), ops.transpose(below, (0, 2, 1))]
        logs = ops.log(1e-3 + ops.stack(pairs, axis=-1))  # (N, K, K, 4)
        if not self.relative:
            return logs
        # The piece itself is never its own neighbour: out of the minima.
        itself = ops.reshape(ops.eye(k, dtype="float32") * 1e4, (1, k, k, 1))
        row_best = ops.min(logs + itself, axis=2, keepdims=True)  # i's best candidate j
        column_best = ops.min(logs + itself, axis=1, keepdims=True)  # j's best candidate i
        return ops.concatenate([logs, logs - row_best, logs - column_best], axis=-1)

    def compute_output_shape(self, input_shape):
        k = math.prod(utils.parse_grid(self.grid))
        return (input_shape[0], k, k, 12 if self.relative else 4)

    def get_config(self):
        return {**super().get_config(), "grid": list(self.grid), "measure": self.measure, "relative": self.relative}


@keras.saving.register_keras_serializable(package="jigsaw")
class BestMatches(layers.Layer):
    """What each piece's border costs say about where it lies: per piece, not per pair.

    From ``EdgeDissimilarity(..., relative=True)``'s pair features, for each piece ``i`` and each
    direction: whether some piece is ``i``'s best match there and has ``i`` as its own best
    match (0 if so, larger the further from it: the smallest sum of the row and column
    differences), and how well its best candidate fits, against the puzzle's median of that.
    A piece with no such "best buddy" above it most likely lies in the top row: attention,
    which always spreads its weight over some pieces, cannot say "none" by itself.

    Call: ``(N, K, K, 12)`` pair features -> ``(N, K, 8)`` float32.
    """

    def call(self, pairs):
        k = pairs.shape[1]
        itself = ops.reshape(ops.eye(k, dtype="float32") * 1e4, (1, k, k, 1))  # never its own neighbour
        logs, rows, columns = pairs[..., :4] + itself, pairs[..., 4:8], pairs[..., 8:]
        buddies = ops.min(rows + columns + itself, axis=2)  # (N, K, 4)
        best = ops.min(logs, axis=2)  # (N, K, 4)
        typical = ops.median(best, axis=1, keepdims=True)
        return ops.concatenate([buddies, best - typical], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], 8)


def cut_pieces(puzzles, grid):
    """``(N, H, W, C)`` puzzles -> ``(N, K, H / rows, W / cols, C)`` pieces, slot by slot (row-major)."""
    rows, cols = grid
    height, width, channels = puzzles.shape[1:]
    piece_h, piece_w = height // rows, width // cols
    x = ops.reshape(puzzles, (-1, rows, piece_h, cols, piece_w, channels))
    return ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, rows * cols, piece_h, piece_w, channels))


@keras.saving.register_keras_serializable(package="jigsaw")
class Pieces(layers.Layer):
    """Cuts puzzles into their pieces: ``(N, H, W, C)`` -> ``(N, K, H / rows, W / cols, C)``."""

    def __init__(self, grid, **kwargs):
        super().__init__(**kwargs)
        self.grid = utils.parse_grid(grid)

    def call(self, puzzles):
        return cut_pieces(puzzles, self.grid)

    def compute_output_shape(self, input_shape):
        rows, cols = self.grid
        n, height, width, channels = input_shape
        return (n, rows * cols, height // rows, width // cols, channels)

    def get_config(self):
        return {**super().get_config(), "grid": list(self.grid)}


@keras.saving.register_keras_serializable(package="jigsaw")
class BorderCompatibility(layers.Layer):
    """Learned fit of every pair of pieces, one channel per direction: which piece continues which.

    Each piece's four border strips (its outermost column or row of features) are
    projected to ``key_dim`` numbers; the score of ``j`` to the right of ``i`` is the dot
    product of ``i``'s right-border key and ``j``'s left-border key, and likewise below.
    The four channels are: ``j`` right of ``i``, below, left, above (the last two are the
    first two transposed). Pieces only, not slots: shuffle-equivariant.

    Call: ``(N, K, h, w, C)`` piece features -> ``(N, K, K, 4)`` float32.
    """

    def __init__(self, key_dim=32, **kwargs):
        super().__init__(**kwargs)
        self.key_dim = key_dim
        self.keys = {side: layers.Dense(key_dim, dtype=self.dtype_policy, name=side)
                     for side in ("right", "left", "bottom", "top")}

    def build(self, input_shape):
        _, _, h, w, c = input_shape
        for side, layer in self.keys.items():
            layer.build((None, None, (h if side in ("right", "left") else w) * c))

    def call(self, pieces):
        k = pieces.shape[1]

        def key(side, strip):
            return self.keys[side](ops.reshape(strip, (-1, k, strip.shape[2] * strip.shape[3])))

        right, left = key("right", pieces[:, :, :, -1, :]), key("left", pieces[:, :, :, 0, :])
        bottom, top = key("bottom", pieces[:, :, -1, :, :]), key("top", pieces[:, :, 0, :, :])
        scale = 1.0 / math.sqrt(self.key_dim)
        to_right = ops.matmul(right, ops.transpose(left, (0, 2, 1))) * scale  # (N, K, K): j right of i
        below = ops.matmul(bottom, ops.transpose(top, (0, 2, 1))) * scale
        scores = [to_right, below, ops.transpose(to_right, (0, 2, 1)), ops.transpose(below, (0, 2, 1))]
        return ops.cast(ops.stack(scores, axis=-1), "float32")

    def compute_output_shape(self, input_shape):
        k = input_shape[1]
        return (input_shape[0], k, k, 4)

    def get_config(self):
        return {**super().get_config(), "key_dim": self.key_dim}


def _mean_squared_distance(a, b):
    """``(N, K, L)`` and ``(N, K, L)`` -> ``(N, K, K)``: mean over L of ``(a[i] - b[j])**2``."""
    length = a.shape[-1]
    cross = ops.matmul(a, ops.transpose(b, (0, 2, 1)))
    squares = ops.sum(a * a, axis=-1)[:, :, None] + ops.sum(b * b, axis=-1)[:, None, :]
    return ops.maximum(squares - 2.0 * cross, 0.0) / length


@keras.saving.register_keras_serializable(package="jigsaw")
class BiasedSelfAttention(layers.Layer):
    """Multi-head self-attention over the pieces with an additive bias per head and pair.

    Call: ``x`` ``(N, K, dim)`` and ``bias`` ``(N, K, K, heads)`` -> ``(N, K, dim)``; the
    attention logit of piece ``i`` on piece ``j`` in head ``h`` is ``q_i . k_j / sqrt(d)
    + bias[i, j, h]``. Queries, keys, values and the output projection are einsums over
    ``(N, K, heads, d)``, as in Keras' ``MultiHeadAttention``: a fused projection split by
    slicing and transposing was a fifth slower per training step at 7x7.
    """

    def __init__(self, heads, key_dim, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.key_dim = heads, key_dim
        self.query, self.key, self.value = (
            layers.EinsumDense("nkc,chd->nkhd", (None, heads, key_dim), bias_axes="hd", dtype=self.dtype_policy,
                               name=name)
            for name in ("query", "key", "value")
        )
        self.project = None

    def build(self, x_shape, bias_shape=None):
        for layer in (self.query, self.key, self.value):
            layer.build(x_shape)
        self.project = layers.EinsumDense("nkhd,hdc->nkc", (None, x_shape[-1]), bias_axes="c",
                                          dtype=self.dtype_policy, name="project")
        self.project.build((*x_shape[:-1], self.heads, self.key_dim))

    def call(self, x, bias):
        query = self.query(x) / math.sqrt(self.key_dim)  # (N, K, heads, d)
        logits = ops.einsum("njhd,nihd->nhij", self.key(x), query)  # (N, heads, K, K): i attends to j
        logits = logits + ops.cast(ops.transpose(bias, (0, 3, 1, 2)), logits.dtype)
        y = ops.einsum("nhij,njhd->nihd", ops.softmax(logits, axis=-1), self.value(x))
        return self.project(y)

    def compute_output_shape(self, x_shape, bias_shape=None):
        return x_shape

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "key_dim": self.key_dim}


def transformer_block(x, dim, heads, name, dtype=None, edges=None, edge_mlp=True):
    """One pre-norm transformer block: self-attention over the pieces, then an MLP.

    With ``edges`` (``(N, K, K, E)`` pair features), this block maps each pair's features
    to one attention bias per head: by a small MLP (``edge_mlp``) or a linear layer.
    """
    y = layers.LayerNormalization(dtype=dtype, name=f"{name}_norm1")(x)
    if edges is None:
        y = layers.MultiHeadAttention(heads, dim // heads, dtype=dtype, name=f"{name}_attention")(y, y)
    else:
        bias = edges
        if edge_mlp:
            bias = layers.Dense(16, activation="gelu", dtype=dtype, name=f"{name}_edge_mlp")(bias)
        bias = layers.Dense(heads, dtype=dtype, name=f"{name}_edge_bias")(bias)
        y = BiasedSelfAttention(heads, dim // heads, dtype=dtype, name=f"{name}_attention")(y, bias)
    x = layers.Add(dtype=dtype, name=f"{name}_add1")([x, y])
    y = layers.LayerNormalization(dtype=dtype, name=f"{name}_norm2")(x)
    y = layers.Dense(2 * dim, activation="gelu", dtype=dtype, name=f"{name}_mlp1")(y)
    y = layers.Dense(dim, dtype=dtype, name=f"{name}_mlp2")(y)
    return layers.Add(dtype=dtype, name=f"{name}_add2")([x, y])


def build_piece_transformer(
    input_shape,
    grid,
    dim=128,
    blocks=4,
    heads=4,
    piece_filters=16,
    edge_bias="learned",
    dtype_policy=None,
    num_outputs=None,
    name="piece_transformer",
):
    """Builds the grid-aligned encoder-decoder: pieces in, attention between them, heatmaps out.

    The encoder sees each slot's piece alone, never a pixel of its neighbours (which, in a
    shuffled puzzle, are unrelated): two 3x3 convolutions run inside the piece (zero-padded
    at its border), and its pixels and their features become one vector. The bottleneck is
    a stack of transformer blocks over those K vectors, with no position embedding: where a
    piece belongs depends on its content and on the other pieces, not on the slot it was
    shuffled to, so the network is equivariant to the shuffle by construction. Each block's
    attention can be biased by how well every pair of pieces fits side by side
    (``edge_bias``). The decoder, a transposed convolution whose kernel and stride are the
    piece, paints each slot's part of all K heatmaps.

    Args:
        input_shape: ``(H, W, C)`` of one puzzle; H and W must be multiples of the grid
            (the padded puzzle size, ``utils.padded_shape``).
        grid: ``(rows, cols)`` or an int for a square grid.
        dim: width of a piece's vector.
        blocks: transformer blocks.
        heads: attention heads (must divide ``dim``).
        piece_filters: filters of the two convolutions inside each piece; 0 for none (the
            piece's pixels go straight into one linear map, as a ViT's patches do).
        edge_bias: the attention bias of every pair of pieces: ``"learned"`` (default), each
            piece's four border strips of features projected to keys whose dot products score
            every pair in every direction (``BorderCompatibility``); ``"mse"``, the mean squared
            difference of the touching border pixels (``EdgeDissimilarity``) through a small
            MLP of each block; ``"gradient"``, the border solver's gradient-predicted cost of
            every pair with how far each pair is from either piece's best match (``EdgeDissimilarity``
            with ``relative``), through that MLP; ``"none"``.
        dtype_policy: Keras dtype policy of the body; the heatmap layer is always float32.
        num_outputs: output maps; None for ``K = rows * cols``, one heatmap per piece.
        name: the model's name.

    Returns:
        A ``keras.Model`` from ``(N, H, W, C)`` float32 to ``(N, H, W, num_outputs)`` float32
        heatmap logits.
    """
    if len(input_shape) != 3 or any(int(d) < 1 for d in input_shape):
        raise ValueError(f"input_shape must be (H, W, C) of positive ints, got {input_shape}")
    rows, cols = utils.parse_grid(grid)
    height, width, _ = input_shape
    if height % rows or width % cols:
        raise ValueError(
            f"a {height}x{width} puzzle does not split into a {rows}x{cols} grid; pad it first (utils.pad_to_grid)"
        )
    for label, value, low in (("dim", dim, 1), ("blocks", blocks, 0), ("heads", heads, 1),
                              ("piece_filters", piece_filters, 0)):
        if int(value) != value or value < low:
            raise ValueError(f"{label} must be an integer >= {low}, got {value}")
    if dim % heads:
        raise ValueError(f"heads ({heads}) must divide dim ({dim})")
    utils.check_choice("edge bias", edge_bias, EDGE_BIASES)
    piece = (height // rows, width // cols)
    k = rows * cols

    inputs = keras.Input(shape=tuple(input_shape), name="shuffled")
    if piece_filters:
        pieces = Pieces((rows, cols), dtype=dtype_policy, name="cut")(inputs)  # (N, K, h, w, C)
        features = pieces
        for i in (1, 2):
            conv = layers.Conv2D(piece_filters, 3, padding="same", activation="relu", dtype=dtype_policy)
            features = layers.TimeDistributed(conv, dtype=dtype_policy, name=f"piece_conv{i}")(features)
        features = layers.Concatenate(dtype=dtype_policy, name="piece_features")([pieces, features])
        x = layers.Reshape((k, -1), dtype=dtype_policy, name="slots")(features)
        x = layers.Dense(dim, dtype=dtype_policy, name="pieces")(x)  # (N, K, dim)
    else:
        x = layers.Conv2D(dim, piece, strides=piece, dtype=dtype_policy, name="pieces")(inputs)  # (N, rows, cols, dim)
        x = layers.Reshape((k, dim), dtype=dtype_policy, name="slots")(x)
    pairs = None
    if edge_bias == "mse":
        pairs = EdgeDissimilarity(grid, dtype="float32", name="edges")(inputs)
    elif edge_bias == "gradient":
        pairs = EdgeDissimilarity(grid, "gradient", relative=True, dtype="float32", name="edges")(inputs)
        matches = BestMatches(dtype="float32", name="best_matches")(pairs)  # (N, K, 8)
        x = layers.Add(dtype=dtype_policy, name="pieces_and_matches")(
            [x, layers.Dense(dim, dtype=dtype_policy, name="matches")(matches)])
    elif edge_bias == "learned":
        if not piece_filters:
            features = Pieces((rows, cols), dtype=dtype_policy, name="cut")(inputs)
        pairs = BorderCompatibility(32, dtype="float32", name="borders")(features)
    for i in range(blocks):
        x = transformer_block(x, dim, heads, f"block{i}", dtype_policy, pairs,
                              edge_mlp=edge_bias in ("mse", "gradient"))
    x = layers.LayerNormalization(dtype=dtype_policy, name="norm")(x)
    x = layers.Reshape((rows, cols, dim), dtype=dtype_policy, name="grid")(x)
    # float32 and zero-initialised, as in the U-Net: the first heatmaps are flat.
    outputs = k if num_outputs is None else num_outputs
    x = layers.Conv2DTranspose(
        outputs, piece, strides=piece, kernel_initializer="zeros", dtype="float32", name="heatmaps"
    )(x)
    return keras.Model(inputs, x, name=name)


def load_model(model_file):
    """Loads a ``.keras`` file, its custom layers and loss registered by this module.

    Raises:
        ValueError: for a file Keras cannot load, with Keras' reason in one line.
    """
    try:
        return keras.models.load_model(model_file)
    except Exception as err:
        raise ValueError(f"{model_file} is not a loadable .keras model ({type(err).__name__}: {err})") from None


HEAD = "heatmaps"  # the output layer of both networks: all that transfer.py replaces


def unet_levels(network):
    """Every level's features of a ``build_unet`` network: each conv block's output, down0 first, up0 last.

    A frozen U-Net's last block is 16 channels at full size, all a probe on its output
    sees; the encoder's and the bottom's blocks hold most of what it learnt (transfer.py's
    linear mode reads them all).

    Returns:
        Keras tensors ``(N, H / 2**l, W / 2**l, F * 2**l)``, one per block, in the network's order.
    """
    pattern = re.compile(r"(down\d+|bottom|up\d+)_relu2")
    levels = [layer.output for layer in network.layers if pattern.fullmatch(layer.name)]
    if not levels:
        raise ValueError(f"{network.name} has no U-Net conv blocks (layers named like down0_relu2)")
    return levels


def build_network(config, input_shape=None, num_outputs=None):
    """The untrained network a run's config describes (``arch``, its settings, its pretext).

    Args:
        config: a run's resolved settings (``run_folder.read_config``, or train.py's).
        input_shape: ``(H, W)`` of one input; None for the run's puzzles. The transformer
            keeps the run's piece size, so H and W must be multiples of it.
        num_outputs: output maps; None for the run's own: K heatmaps, or the restored image
            (its C channels) for the denoising pretext.

    Returns:
        A ``keras.Model`` from ``(N, H, W, C)`` (C: the run's ``channels``) to ``(N, H, W, num_outputs)`` float32.

    Raises:
        ValueError: if the transformer's pieces do not tile ``input_shape``.
    """
    shape = tuple(config["puzzle_shape"] if input_shape is None else input_shape)
    channels = config.get("channels") or 1
    if num_outputs is None:
        num_outputs = channels if config["pretext"] == "denoise" else config["num_pieces"]
    if config["arch"] == "unet":
        return build_unet((*shape, channels), num_outputs, config["filters"], config["depth"], config["dtype_policy"])
    tiles = run_folder.tiles(config, shape)  # the run's pieces, as many as the input holds
    return build_piece_transformer(
        (*shape, channels), tiles, config["dim"], config["blocks"], config["heads"], config["piece_filters"],
        config["edge_bias"], config["dtype_policy"], num_outputs,
    )


def copy_body(source, target):
    """Copies the weights of every layer of ``target`` but its head from the same-named layer of ``source``.

    Both networks must come from the same config (``build_network``); input size and head
    may differ, since no weight of the body depends on them.

    Returns:
        The names of the layers whose weights were copied.
    """
    copied = []
    for layer in target.layers:
        if layer.name != HEAD and layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
            copied.append(layer.name)
    return copied


# ------------------------------------------------------------------- losses
@keras.saving.register_keras_serializable(package="jigsaw")
def heatmap_cross_entropy(y_true, y_pred):
    """Cross-entropy of heatmap logits against the Gaussian targets, both ways round.

    Each target heatmap, scaled to sum to 1, is a distribution over pixels: "where is the
    piece of position k?". The first term is its cross-entropy with the softmax of heatmap
    k over all pixels. The second asks the converse at every pixel, "which position's piece
    lies here?", over the K heatmaps. Unlike MSE on sparse Gaussians, neither term is
    content with an all-dark output, and for pieces that look alike (blank ones) the best
    answer is to share the probability, which the decoding then resolves.

    Args:
        y_true: ``(N, H, W, K)`` float32 target heatmaps (``utils.make_heatmaps``).
        y_pred: ``(N, H, W, K)`` float32 heatmap logits.

    Returns:
        ``(N,)`` float32 losses.
    """
    k = y_pred.shape[-1]
    logits = ops.reshape(ops.cast(y_pred, "float32"), (ops.shape(y_pred)[0], -1, k))
    target = ops.reshape(ops.cast(y_true, "float32"), (ops.shape(y_true)[0], -1, k))
    where = target / ops.maximum(ops.sum(target, axis=1, keepdims=True), 1e-12)
    which = target / ops.maximum(ops.sum(target, axis=2, keepdims=True), 1e-12)
    where_loss = -ops.sum(where * ops.log_softmax(logits, axis=1), axis=1)  # (N, K)
    which_loss = -ops.sum(which * ops.log_softmax(logits, axis=2), axis=2)  # (N, H*W)
    return ops.mean(where_loss, axis=1) + ops.mean(which_loss, axis=1)


@keras.saving.register_keras_serializable(package="jigsaw")
def masked_heatmap_loss(y_true, y_pred):
    """Binary cross-entropy of keypoint heatmap logits, leaving out the keypoints that are not labelled.

    Every pixel of every heatmap is a yes-or-no ("is the keypoint here?"), as for digit pose;
    a keypoint with COCO visibility 0 has its target filled with ``coco.UNLABELLED`` (-1), and
    none of its pixels count: the network is neither pushed to find it nor not to.

    Args:
        y_true: ``(N, H, W, K)`` float32 targets in [0, 1], or -1 for a keypoint not labelled.
        y_pred: ``(N, H, W, K)`` float32 logits.

    Returns:
        ``(N,)`` float32: each example's mean over the pixels of its labelled keypoints' heatmaps.
    """
    y_pred = ops.cast(y_pred, "float32")
    y_true = ops.cast(y_true, "float32")
    labelled = ops.cast(y_true >= 0, "float32")
    target = ops.maximum(y_true, 0.0)
    # The stable form of -t log(sigmoid(x)) - (1 - t) log(1 - sigmoid(x)).
    entropy = ops.maximum(y_pred, 0.0) - y_pred * target + ops.log1p(ops.exp(-ops.abs(y_pred)))
    return ops.sum(entropy * labelled, axis=(1, 2, 3)) / ops.maximum(ops.sum(labelled, axis=(1, 2, 3)), 1.0)


def heatmap_loss(heatmaps, targets, loss):
    """The training loss, for scoring: the batch mean of ``mse`` or ``softmax``.

    Args:
        heatmaps: ``(N, H, W, K)`` model outputs.
        targets: ``(N, H, W, K)`` target heatmaps.
        loss: ``"mse"`` or ``"softmax"`` (``heatmap_cross_entropy``).
    """
    utils.check_choice("loss", loss, utils.LOSSES)
    if loss == "mse":
        return float(np.mean((heatmaps - targets) ** 2))
    return float(np.mean(ops.convert_to_numpy(heatmap_cross_entropy(targets, heatmaps))))


KERAS_LOSSES = {"softmax": heatmap_cross_entropy, "mse": "mse"}
DEFAULT_LOSS = run_folder.NETWORK_DEFAULTS["transformer"]["loss"]
