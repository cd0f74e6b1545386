"""TF Serving's layout: `BASE/VERSION/` folders, numbered, written to a
temporary folder and renamed into place, never overwritten.

The one writer of that layout, used by every SavedModel export. The
temporary folder and its rename are `keras_music.utils.atomic_path`'s:
`BASE/VERSION.incomplete-<pid>`, a name TF Serving does not take for a
version, removed when the export fails and, when the exporting process
was killed, by the next export into `BASE`.
"""

import os
import tempfile

import tensorflow as tf

from keras_music.export.model_card import MODEL_CARD_FILE
from keras_music.export.model_card import write_model_card
from keras_music.utils.atomic_write import atomic_path
from keras_music.utils.atomic_write import remove_stale_temporaries

README_FILE = "README.md"


def check_version(version):
    """Refuses a `version` that is not a positive integer (or `None`)."""
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise ValueError(
            "`version` must be a positive integer (TF Serving's version "
            f"folders are numbers). Received: version={version!r}"
        )


def resolve_version(export_dir, version):
    """`export_dir` (created) and the version to write in it."""
    export_dir = os.fspath(export_dir)
    os.makedirs(export_dir, exist_ok=True)
    # What exports killed midway left (their processes are gone).
    remove_stale_temporaries(export_dir)
    existing = existing_versions(export_dir)
    if version is None:
        return export_dir, max(existing, default=0) + 1
    if version in existing:
        raise ValueError(
            f"`version` {version} already exists in {export_dir}; versions "
            f"are never overwritten. Existing versions: {sorted(existing)}. "
            f"Received: version={version}"
        )
    return export_dir, version


def save_version(
    graph, export_dir, version, signatures, readme, stage=None, card=None
):
    """Saves `graph` with `signatures` (names of its functions) as
    `export_dir/version`, written to a temporary folder beside it and
    renamed into place; `stage(graph, folder)` adds assets first (in a
    temporary folder of its own), and
    `card` (a dict) is written as `model_card.json` beside `saved_model.pb`."""
    target = os.path.join(export_dir, str(version))
    # Assets are staged outside the version: the SavedModel copies them
    # into its `assets/`.
    with tempfile.TemporaryDirectory() as staging:
        if stage is not None:
            stage(graph, staging)
        # The rename fails (`OSError`) rather than replace a version
        # another process wrote meanwhile.
        with atomic_path(target) as written:
            tf.saved_model.save(
                graph,
                written,
                signatures={name: getattr(graph, name) for name in signatures},
            )
            with open(os.path.join(written, README_FILE), "w") as stream:
                stream.write(readme)
            if card is not None:
                write_model_card(os.path.join(written, MODEL_CARD_FILE), card)
    return target


def existing_versions(export_dir):
    """The integer version folders in `export_dir`."""
    if not os.path.isdir(export_dir):
        return []
    return sorted(
        int(entry)
        for entry in os.listdir(export_dir)
        if entry.isdigit() and os.path.isdir(os.path.join(export_dir, entry))
    )
