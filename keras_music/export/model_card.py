"""Model cards: the JSON file every export writes next to its model, in
Essentia's schema."""

import datetime
import os

import tensorflow as tf

from keras_music.data.tfrecord_format import write_json_atomic

MODEL_CARD_FILE = "model_card.json"
CARD_KEYS = ("link", "description", "author", "email", "citation")


def tensor(name, shape, purpose=None, signature=None, type="float"):
    """One `schema` entry: `name`, `type`, `shape` (`"batch_size"`,
    `"samples"` for sizes the caller chooses), and for outputs
    `output_purpose` (`"predictions"` or `"embeddings"`)."""
    entry = {"name": name, "type": type, "shape": list(shape)}
    if signature is not None:
        entry["signature"] = signature
    if purpose is not None:
        entry["output_purpose"] = purpose
    return entry


def model_card(
    name,
    model_type,
    sample_rate,
    inputs,
    outputs,
    classes=None,
    version=1,
    model_format="saved_model",
    metadata=None,
    inference=None,
):
    """A model card in Essentia's schema, as a dict.

    The fields of the `.json` files Essentia ships with its models:
    `name`, `type`, `link`, `version`, `description`, `author`, `email`,
    `release_date`, `framework`, `framework_version`, `classes`,
    `model_types`, `dataset` (`name`, `citation`, `size`, `metrics`),
    `schema` (`inputs`, `outputs`), `citation` and `inference`
    (`sample_rate`, `algorithm`, plus keras_music's `segment_samples`
    and `segment_seconds`). What the model was trained and scored on
    comes from the model's own `metadata` (a tagger's config keeps it, so
    the `.keras` file carries it): `dataset`, `metrics` (the evaluation
    the training run measured) and any of `link`, `description`,
    `author`, `email`, `citation`.

    Args:
        name: str. The model's name.
        model_type: str. E.g. `"multi-label classifier"`.
        sample_rate: int. The rate the model's audio must be at, in Hz.
        inputs, outputs: lists of `tensor(...)` entries.
        classes: optional list of str. Tag names in output order.
            Defaults to `None` (`[]`, an embedding model).
        version: int. The export's version. Defaults to 1.
        model_format: str. `"saved_model"` or `"tflite"`. Defaults to
            `"saved_model"`.
        metadata: optional dict. The model's `metadata`. Defaults to
            `None`.
        inference: optional dict. More `inference` fields. Defaults to
            `None`.

    Returns:
        dict, ready for `json.dump`.

    Example:

    >>> card = model_card(
    ...     "tiny_tagger", "multi-label classifier", 16000,
    ...     inputs=[tensor("audio", ["batch_size", "samples"])],
    ...     outputs=[tensor("probabilities", ["batch_size", 2], "predictions")],
    ...     classes=["piano", "voice"],
    ...     metadata={"dataset": "tunes", "metrics": {"roc_auc": 0.9}},
    ... )
    >>> card["inference"]["sample_rate"], card["classes"]
    (16000, ['piano', 'voice'])
    >>> card["dataset"]["name"], card["dataset"]["metrics"]
    ('tunes', {'roc_auc': 0.9})
    >>> card["schema"]["outputs"][0]["output_purpose"]
    'predictions'
    """
    metadata = dict(metadata or {})
    dataset = metadata.get("dataset") or {}
    if isinstance(dataset, str):
        dataset = {"name": dataset}
    card = {key: str(metadata.get(key, "")) for key in CARD_KEYS}
    card.update(
        {
            "name": name,
            "type": model_type,
            "version": str(version),
            "release_date": datetime.date.today().isoformat(),
            "framework": "tensorflow",
            "framework_version": tf.__version__,
            "classes": list(classes or []),
            "model_types": [model_format],
            "dataset": {
                "name": dataset.get("name", ""),
                "citation": dataset.get("citation", ""),
                "size": dataset.get("size", ""),
                "metrics": dict(metadata.get("metrics") or {}),
            },
            "schema": {"inputs": list(inputs), "outputs": list(outputs)},
            "inference": {
                "sample_rate": int(sample_rate),
                "algorithm": "keras_music",
                **(inference or {}),
            },
        }
    )
    if not card["description"]:
        card["description"] = f"{model_type}, exported by keras_music"
    return card


def write_model_card(path, card):
    """Writes `card` as JSON at `path` (atomically); returns `path`."""
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    write_json_atomic(path, card)
    return path


def card_path(model_path):
    """Where the card of a model file goes: `NAME.tflite` -> `NAME.json`
    (Essentia's `NAME.pb` + `NAME.json`); a SavedModel version folder
    holds `model_card.json`."""
    model_path = os.fspath(model_path)
    if os.path.isdir(model_path):
        return os.path.join(model_path, MODEL_CARD_FILE)
    return os.path.splitext(model_path)[0] + ".json"
