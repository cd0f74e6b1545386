"""Nested, seeded, per-class subsets of a training set (label fractions).

S3T evaluates with 1%, 10% and 100% of the labelled training data. The
subsets here are drawn per class, keep at least one example per class,
are reproducible from a seed and nested: the 1% subset is inside the 10%
one, which is inside the full set, so a curve over fractions measures
more labels, not different ones.

The rule, for single-label and multi-label tasks alike:

1. Each class (tag) `c` with `n_c` positive examples gets a quota
   `q_c(f) = max(1, round(f * n_c))` (`n_c` when `f = 1`).
2. Examples are put in one fixed order, drawn from the seed: rarest class
   first (an example ranks by the rarest class it carries), random within
   that.
3. Walking that order, an example is kept if it carries a class that is
   still below its quota (counting the examples already kept).

For single-label data this keeps exactly `q_c` random examples of each
class. For multi-label data each tag gets at least its quota (a kept
example also counts for its other tags), the rare tags are served first,
and the result is nested: quotas only grow with `f`, and by induction
over the walk a tag below its quota at the smaller fraction is below its
quota at the larger one, so every example kept at `f1 < f2` is kept at
`f2`.
"""

import numpy as np


def label_fraction_indices(labels, fractions, seed=0):
    """Indices of nested per-class subsets, one per fraction.

    Args:
        labels: array. `(examples,)` class indices (single-label) or
            `(examples, classes)` binary (multi-label). Every example must
            carry a label (drop unlabelled ones first). Multi-label arrays
            with -1 for unknown labels (partially labelled tasks, see
            `track_labels`) may have examples with negatives only.
        fractions: list of float in (0, 1]. Fractions of each class's
            examples to keep.
        seed: int. Seed of the order. Defaults to 0.

    Returns:
        dict fraction -> sorted int64 array of example indices.

    Example:

    >>> subsets = label_fraction_indices([0] * 100 + [1] * 10, [0.1, 1.0])
    >>> len(subsets[0.1]), len(subsets[1.0])
    (11, 110)
    """
    labels = np.asarray(labels)
    if labels.ndim == 1:
        if labels.size and labels.min() < 0:
            raise ValueError(
                "`labels` must all be class indices >= 0 (drop unlabelled "
                f"examples first). Received: min label {labels.min()}"
            )
        num_classes = int(labels.max()) + 1 if labels.size else 0
        hot = np.zeros((len(labels), num_classes), dtype=bool)
        hot[np.arange(len(labels)), labels.astype(int)] = True
    elif labels.ndim == 2:
        hot = labels > 0.5
        if (labels < 0).any():
            # Partially labelled (-1 = unknown): an example whose known
            # labels are all negatives is still labelled; such examples
            # are drawn as one more class, so each subset keeps their
            # share.
            hot = np.concatenate([hot, ~hot.any(axis=1, keepdims=True)], 1)
    else:
        raise ValueError(
            "`labels` must be (examples,) or (examples, classes). "
            f"Received: labels.shape={labels.shape}"
        )
    if len(hot) == 0:
        raise ValueError("`labels` is empty: there is nothing to sample.")
    unlabelled = ~hot.any(axis=1)
    if unlabelled.any():
        raise ValueError(
            f"`labels` has {int(unlabelled.sum())} examples without any "
            "positive label; drop unlabelled examples first."
        )
    fractions = [float(f) for f in fractions]
    for fraction in fractions:
        if not 0.0 < fraction <= 1.0:
            raise ValueError(
                "`fractions` must be in (0, 1]. "
                f"Received: fractions={fractions}"
            )

    counts = hot.sum(axis=0)
    # An example ranks by the rarest class it carries; ties at random.
    rarity = np.where(hot, counts[None, :], np.iinfo(np.int64).max).min(1)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(hot)), rarity))
    ordered = hot[order]

    subsets = {}
    for fraction in fractions:
        if fraction == 1.0:
            subsets[fraction] = np.arange(len(hot), dtype="int64")
            continue
        quota = np.maximum(1, np.round(fraction * counts)).astype(int)
        quota[counts == 0] = 0
        kept = np.zeros(len(hot), dtype=bool)
        have = np.zeros(hot.shape[1], dtype=int)
        for position, row in enumerate(ordered):
            if np.any(row & (have < quota)):
                kept[position] = True
                have += row
        subsets[fraction] = np.sort(order[kept]).astype("int64")
    return subsets
