"""Loading CLMR's SampleCNN state dicts into `SampleCNNBackbone`.

CLMR (Spijkervet/CLMR, `clmr/models/sample_cnn.py`) keeps its layers in
one `nn.Sequential`: `sequential.0` is the stem, `sequential.{i + 1}` the
block `i` and `sequential.{n + 1}` the output convolution, each holding
`.0` (Conv1d) and `.1` (BatchNorm1d):

| reference key                       | keras_music weight              |
|-------------------------------------|---------------------------------|
| `sequential.0.0.weight` (C, 1, k)   | `stem_conv` kernel (k, 1, C)    |
| `sequential.{i+1}.0.weight`         | `block_{i}_conv` kernel         |
| `sequential.{n+1}.0.weight`         | `output_conv` kernel            |
| `….1.weight` / `bias`               | BatchNorm `gamma` / `beta`      |
| `….1.running_mean` / `running_var`  | `moving_mean` / `moving_variance` |

`fc.*` (the classifier or projection CLMR replaces) and
`….num_batches_tracked` are skipped. A Lightning checkpoint of CLMR's
contrastive module prefixes the encoder with `model.encoder.`: pass
`prefix="model.encoder."`.
"""

import numpy as np

from keras_music.convert.state_dict import load_state_dict
from keras_music.convert.torch_targets import assign_targets
from keras_music.convert.torch_targets import batch_norm
from keras_music.convert.torch_targets import conv1d
from keras_music.convert.torch_targets import same
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone


def load_sample_cnn_weights(backbone, state_dict, prefix=None):
    """Loads a CLMR SampleCNN state dict into a `SampleCNNBackbone`.

    Args:
        backbone: `SampleCNNBackbone` of the checkpoint's widths, without
            `output_batch_norm` (CLMR has none).
        state_dict: dict of name → array, or a checkpoint path (read with
            `load_state_dict(path, prefix)`).
        prefix: optional str. Keep only keys starting with it, removed
            (e.g. `"model.encoder."`).

    Returns:
        The sorted list of checkpoint keys that were skipped.

    Raises:
        ValueError: listing every unknown key, missing key and shape
            mismatch at once; no weight is changed then.

    Example:

    >>> backbone = SampleCNNBackbone.from_preset("sample_cnn_test_tiny")
    >>> load_sample_cnn_weights(backbone, {"fc.bias": np.zeros(3)})
    Traceback (most recent call last):
    ...
    ValueError: The state dict does not fit this SampleCNNBackbone; ...
    """
    if not isinstance(backbone, SampleCNNBackbone):
        raise ValueError(
            "`backbone` must be a SampleCNNBackbone. "
            f"Received: backbone={backbone!r}"
        )
    if backbone.output_batch_norm:
        raise ValueError(
            "`backbone` must not have `output_batch_norm`: CLMR's SampleCNN "
            "has no BatchNorm after its output convolution. Received: "
            "backbone.output_batch_norm=True"
        )
    if isinstance(state_dict, str) or hasattr(state_dict, "__fspath__"):
        state_dict = load_state_dict(state_dict, prefix=prefix)
    elif prefix is not None:
        state_dict = {
            k[len(prefix) :]: v
            for k, v in state_dict.items()
            if k.startswith(prefix)
        }
    source = {k: np.asarray(v) for k, v in state_dict.items()}
    skipped = sorted(
        k
        for k in source
        if k.startswith("fc.") or k.endswith("num_batches_tracked")
    )
    for key in skipped:
        del source[key]
    assign_targets("SampleCNNBackbone", source, _targets(backbone))
    return skipped


def _targets(backbone):
    names = ["stem"]
    names += [f"block_{i}" for i in range(len(backbone.block_filters))]
    if backbone.output_filters is not None:
        names.append("output")
    targets = {}
    for index, name in enumerate(names):
        conv = backbone.get_layer(f"{name}_conv")
        norm = backbone.get_layer(f"{name}_bn")
        targets[f"sequential.{index}.0.weight"] = conv1d(conv.kernel)
        targets[f"sequential.{index}.0.bias"] = same(conv.bias)
        targets.update(batch_norm(f"sequential.{index}.1", norm))
    return targets
