import numpy as np
import pytest

from keras_music.evaluation.label_fractions import label_fraction_indices

RNG = np.random.default_rng(0)
FRACTIONS = [0.01, 0.1, 0.5, 1.0]


def _single_label():
    # Imbalanced: 1000, 300, 40 and 3 examples, shuffled.
    labels = np.repeat(np.arange(4), [1000, 300, 40, 3])
    return RNG.permutation(labels)


def _multi_label(n=600, tags=12):
    rates = np.linspace(0.01, 0.5, tags)
    labels = (RNG.random((n, tags)) < rates).astype("int8")
    labels[labels.sum(1) == 0, -1] = 1  # every example has a tag
    return labels


def test_single_label_per_class_counts():
    labels = _single_label()
    subsets = label_fraction_indices(labels, FRACTIONS, seed=3)
    counts = np.bincount(labels)
    for fraction, subset in subsets.items():
        expected = np.maximum(1, np.round(fraction * counts))
        if fraction == 1.0:
            expected = counts
        # Exactly the quota of each class, at least one example.
        np.testing.assert_array_equal(
            np.bincount(labels[subset], minlength=4), expected
        )
        assert len(np.unique(subset)) == len(subset)


@pytest.mark.parametrize("make", [_single_label, _multi_label])
def test_subsets_are_nested_and_seeded(make):
    labels = make()
    subsets = label_fraction_indices(labels, FRACTIONS, seed=7)
    for small, large in zip(FRACTIONS[:-1], FRACTIONS[1:]):
        assert set(subsets[small]) <= set(subsets[large]), (small, large)
        assert len(subsets[small]) < len(subsets[large])
    assert len(subsets[1.0]) == len(labels)
    again = label_fraction_indices(labels, FRACTIONS, seed=7)
    other = label_fraction_indices(labels, FRACTIONS, seed=8)
    for fraction in FRACTIONS:
        np.testing.assert_array_equal(subsets[fraction], again[fraction])
    assert not np.array_equal(subsets[0.1], other[0.1])


def test_subset_does_not_depend_on_other_fractions():
    labels = _multi_label()
    alone = label_fraction_indices(labels, [0.1], seed=1)[0.1]
    together = label_fraction_indices(labels, FRACTIONS, seed=1)[0.1]
    np.testing.assert_array_equal(alone, together)


def test_multi_label_quota_per_tag_and_size():
    labels = _multi_label()
    counts = labels.sum(0)
    for fraction, subset in label_fraction_indices(
        labels, FRACTIONS, seed=0
    ).items():
        have = labels[subset].sum(0)
        quota = np.maximum(1, np.round(fraction * counts))
        # Every tag reaches its quota (at least one example).
        assert np.all(have >= quota), (fraction, have, quota)
        if fraction < 1.0:
            # Co-occurring tags overshoot, but the subset stays near the
            # fraction: here at most 2.5x the fraction of the examples
            # (measured 1.2x-2.0x with 12 tags).
            assert len(subset) <= max(2.5 * fraction * len(labels), 12)


def test_multi_label_nesting_on_many_random_cases():
    # The proof in the module docstring, checked by brute force on small
    # dense problems where co-occurrence is strong.
    for seed in range(30):
        rng = np.random.default_rng(seed)
        labels = (rng.random((40, 5)) < 0.4).astype(int)
        labels[labels.sum(1) == 0, 0] = 1
        fractions = sorted(rng.uniform(0.05, 0.95, 4).tolist())
        subsets = label_fraction_indices(labels, fractions, seed=seed)
        for small, large in zip(fractions[:-1], fractions[1:]):
            assert set(subsets[small]) <= set(subsets[large])


def test_errors():
    with pytest.raises(ValueError, match="`fractions` must be in"):
        label_fraction_indices([0, 1], [0.0])
    with pytest.raises(ValueError, match="`fractions` must be in"):
        label_fraction_indices([0, 1], [1.5])
    with pytest.raises(ValueError, match="drop unlabelled examples"):
        label_fraction_indices([0, -1], [0.5])
    with pytest.raises(ValueError, match="without any positive label"):
        label_fraction_indices([[1, 0], [0, 0]], [0.5])
    with pytest.raises(ValueError, match="`labels` must be"):
        label_fraction_indices(np.zeros((2, 2, 2)), [0.5])
    with pytest.raises(ValueError, match="`labels` is empty"):
        label_fraction_indices(np.zeros((0, 3)), [0.5])


def test_partial_labels_keep_negative_only_examples():
    rng = np.random.default_rng(4)
    labels = (rng.random((400, 3)) < 0.2).astype("int8")
    labels = np.where(rng.random((400, 3)) < 0.3, -1, labels)
    labels[(labels < 0).all(axis=1)] = 0  # every example knows something
    negative_only = ~(labels > 0).any(axis=1)
    subsets = label_fraction_indices(labels, [0.1, 0.5, 1.0], seed=0)
    assert len(subsets[1.0]) == 400
    # Nested, and the negative-only examples are sampled at the fraction
    # like a class of their own (quota = round(fraction * count)).
    assert set(subsets[0.1]) <= set(subsets[0.5])
    for fraction in (0.1, 0.5):
        drawn = negative_only[subsets[fraction]].sum()
        assert drawn >= round(fraction * negative_only.sum()), fraction
