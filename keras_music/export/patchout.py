"""`inference_patchout`: a tagger's inference patchout, set for a block
of code and restored after it."""

import contextlib


@contextlib.contextmanager
def inference_patchout(model, time_stride=None, freq_drop=None):
    """Sets a MAEST model's inference patchout inside a `with` block.

    What every export bakes in when it traces the model: inside the block
    the model keeps one of every `time_stride` time columns and drops the
    frequency rows `freq_drop`; on leaving it (also on an error) the
    previous settings are restored. With both `None` nothing is changed,
    and any model is accepted.

    Args:
        model: `MAESTTagger`, `MAESTEmbedder` or `MAESTBackbone` (anything
            with `set_inference_patchout` and a MAEST backbone).
        time_stride: optional int. Keep 1 of every k time columns.
            Defaults to `None` (unchanged).
        freq_drop: optional list of int. Frequency rows dropped. Defaults
            to `None` (unchanged).

    Example:

    >>> backbone = MAESTBackbone.from_preset("maest_tiny", num_layers=1)
    >>> tagger = MAESTTagger(backbone, num_tags=2)
    >>> with inference_patchout(tagger, 3, (0,)):
    ...     backbone.inference_time_stride
    3
    >>> backbone.inference_time_stride, backbone.inference_freq_drop
    (1, ())
    """
    if time_stride is None and freq_drop is None:
        yield model
        return
    backbone = getattr(model, "backbone", model)
    if not hasattr(model, "set_inference_patchout") or not hasattr(
        backbone, "inference_time_stride"
    ):
        raise ValueError(
            "Inference patchout needs a MAEST model (`MAESTTagger`). "
            f"Received: model={model!r}"
        )
    previous = (
        backbone.inference_time_stride,
        tuple(backbone.inference_freq_drop),
    )
    model.set_inference_patchout(time_stride, freq_drop)
    try:
        yield model
    finally:
        model.set_inference_patchout(*previous)
