import itertools

import numpy as np
import pytest

from keras_music.data.balanced_sampler import BalancedSampler
from tests.test_case import TestCase

# Label 0 is common, label 2 rare; track 4 has no label (weight 0).
LABELS = [[0], [0], [0], [0, 1], [], [1], [2], [1, 2]]


def _formula_weights(label_lists):
    """MAEST: sum over a track's labels of 1000 / (n_label + 100)."""
    counts = {}
    for labels in label_lists:
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
    return np.array(
        [sum(1000 / (counts[lb] + 100) for lb in ls) for ls in label_lists]
    )


class BalancedSamplerTest(TestCase):
    def test_weights_follow_the_formula(self):
        sampler = BalancedSampler(LABELS, num_samples=3)
        self.assertAllClose(sampler.weights, _formula_weights(LABELS))
        self.assertEqual(sampler.weights[4], 0.0)

    def test_with_replacement_frequencies(self):
        draws = 200_000
        sampler = BalancedSampler(LABELS, num_samples=draws, replacement=True)
        counts = np.bincount(sampler.sample(seed=(3, 0)), minlength=8)
        p = _formula_weights(LABELS) / _formula_weights(LABELS).sum()
        # Each count is Binomial(draws, p): within 4 standard deviations
        # (a false failure has probability < 1e-4 per track).
        bound = 4 * np.sqrt(draws * p * (1 - p))
        self.assertTrue(
            np.all(np.abs(counts - draws * p) <= bound),
            f"counts {counts}, expected {draws * p}, bound {bound}",
        )
        self.assertEqual(counts[4], 0)

    def test_without_replacement_inclusion(self):
        k, trials = 3, 3000
        sampler = BalancedSampler(LABELS, num_samples=k)
        included = np.zeros(len(LABELS))
        for trial in range(trials):
            drawn = sampler.sample(seed=(trial, 7)).numpy()
            self.assertEqual(len(set(drawn)), k, "drawn twice")
            included[drawn] += 1
        # Exact inclusion probabilities of k successive draws without
        # replacement, proportional to weight, by enumerating sequences.
        w = _formula_weights(LABELS)
        exact = np.zeros(len(LABELS))
        for sequence in itertools.permutations(range(len(LABELS)), k):
            probability, left = 1.0, w.sum()
            for track in sequence:
                probability *= w[track] / left
                left -= w[track]
            exact[list(sequence)] += probability
        self.assertAllClose(exact.sum(), k)
        frequency = included / trials
        # Bernoulli(exact) over `trials` draws: 4 sigma, plus 1e-12 for
        # the never-drawn unlabelled track (exact 0).
        bound = 4 * np.sqrt(exact * (1 - exact) / trials) + 1e-12
        self.assertTrue(
            np.all(np.abs(frequency - exact) <= bound),
            f"frequencies {frequency}, exact {exact}",
        )

    def test_same_seed_same_sample(self):
        sampler = BalancedSampler(LABELS, num_samples=4)
        self.assertAllEqual(sampler.sample((1, 2)), sampler.sample((1, 2)))
        counts = sampler.sample_counts((1, 2)).numpy()
        self.assertEqual(counts.shape, (8,))
        self.assertEqual(counts.sum(), 4)

    def test_errors(self):
        with pytest.raises(ValueError, match="num_samples=0"):
            BalancedSampler(LABELS, num_samples=0)
        with pytest.raises(ValueError, match="num_samples=8"):
            BalancedSampler(LABELS, num_samples=8)
        with pytest.raises(ValueError, match="replacement='yes'"):
            BalancedSampler(LABELS, num_samples=1, replacement="yes")
        with pytest.raises(ValueError, match="no labelled track"):
            BalancedSampler([[], []], num_samples=1)
        with pytest.raises(ValueError, match="non-negative"):
            BalancedSampler([[-1]], num_samples=1)
