import keras
import numpy as np
import pytest

from keras_music.models.pase.pase_backbone import PASEBackbone
from keras_music.models.pase.pase_layers import ReflectPadding1D
from keras_music.models.pase.pase_layers import block_padding
from keras_music.models.pase.pase_layers import use_official_padding
from keras_music.models.pase.pase_presets import pase_presets
from tests.test_case import TestCase

KERNELS = (20, 11, 11, 11, 11, 11, 11)
CHANNELS = (64, 128, 128, 256, 256, 512, 512)


def pase_parameters(emb=512, sinc=64, channels=CHANNELS):
    """Parameter count of the reference layout, from its tensor shapes."""
    count = 2 * sinc  # low and band per sinc filter
    widths = (sinc, *channels)
    for c_in, c_out, k in zip(widths, channels, KERNELS):
        count += k * c_in * c_out + c_out
    # BatchNorm: scale, offset and two statistics; PReLU: one per channel.
    count += sum(4 * c + c for c in widths)
    count += widths[-1] * emb + emb  # 1x1 projection
    return count + 2 * emb  # output BatchNorm statistics only


def _audio(batch, samples, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.5, 0.5, (batch, samples)).astype("float32")


class PASEBackboneTest(TestCase):
    def test_output_frames_are_samples_over_160(self):
        backbone = PASEBackbone.from_preset("pase_tiny")
        self.assertEqual(backbone.min_samples, 480)
        for samples in (480, 639, 640, 1000, 3200, 16159):
            out = backbone(_audio(2, samples))
            self.assertEqual(tuple(out.shape), (2, samples // 160, 16))

    def test_parameter_count(self):
        backbone = PASEBackbone.from_preset("pase")
        self.assertEqual(backbone.count_params(), pase_parameters())
        self.assertEqual(backbone.count_params(), 6_034_240)
        trainable = sum(
            int(np.prod(w.shape)) for w in backbone.trainable_weights
        )
        self.assertEqual(trainable, 6_029_376)
        # REFERENCE.md §3: ≈6.0 M at emb 512.
        self.assertEqual(round(trainable / 1e6, 1), 6.0)

    def test_serialization_and_saving(self):
        init_kwargs = {**pase_presets["pase_tiny"], "emb_dim": 12}
        backbone = PASEBackbone(**init_kwargs)
        self.run_serialization_test(backbone, init_kwargs)
        x = _audio(2, 1600)
        self.run_model_saving_test(backbone, x)

    def test_export_takes_any_length(self):
        backbone = PASEBackbone.from_preset("pase_tiny")
        restored = self.run_export_test(backbone, _audio(1, 1600))
        out = restored.serve(_audio(1, 2000))
        self.assertEqual(tuple(out.shape), (1, 12, 16))

    def test_training_updates_weights_and_statistics(self):
        backbone = PASEBackbone.from_preset("pase_tiny")
        x = _audio(2, 1600)
        # Adam moves every weight with a non-zero gradient by about the
        # learning rate; SGD's steps on the cut-offs (Hz, gradients ~1e-6)
        # would round away in float32.
        backbone.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        before = [np.array(w) for w in backbone.weights]
        backbone.fit(x, np.zeros((2, 10, 16)), epochs=1, verbose=0)
        after = [np.array(w) for w in backbone.weights]
        moved = [not np.array_equal(b, a) for b, a in zip(before, after)]
        self.assertTrue(all(moved))

    def test_mixed_precision(self):
        for policy, compute in (
            ("mixed_float16", "float16"),
            ("mixed_bfloat16", "bfloat16"),
        ):
            backbone = PASEBackbone.from_preset("pase_tiny", dtype=policy)
            out = backbone(_audio(1, 1600))
            self.assertEqual(
                keras.backend.standardize_dtype(out.dtype), compute
            )
            self.assertTrue(all(w.dtype == "float32" for w in backbone.weights))

    def test_block_padding(self):
        # Stride 1 keeps the length; strided blocks give floor(L / s).
        for kernel, stride in zip(KERNELS, (10, 2, 1, 2, 1, 2, 2)):
            left, right = block_padding(kernel, stride)
            for length in range(12, 60):
                frames = (length + left + right - kernel) // stride + 1
                self.assertEqual(frames, length // stride)
        self.assertEqual(block_padding(11, 2), (4, 5))
        self.assertEqual(block_padding(20, 10), (5, 5))

    def test_official_padding(self):
        # santi-pdp/pase FeBlock: (k // 2 - 1, k // 2) when strided or
        # even; only the kernel-20 block departs from ours.
        paddings = [
            block_padding(k, s, official=True)
            for k, s in zip(KERNELS, (10, 2, 1, 2, 1, 2, 2))
        ]
        expected = [(9, 10)] + [(4, 5), (5, 5)] * 2 + [(4, 5)] * 2
        self.assertEqual(paddings, expected)
        init_kwargs = {**pase_presets["pase_tiny"], "official_padding": True}
        backbone = PASEBackbone(**init_kwargs)
        self.run_serialization_test(backbone, init_kwargs)
        self.assertEqual(backbone.get_layer("block_2_pad").padding, (9, 10))
        self.assertEqual(backbone.min_samples, 471)
        for samples in (471, 639, 1601, 16159):
            out = backbone(_audio(1, samples))
            frames = -(-samples // 10) // 16
            self.assertEqual(tuple(out.shape), (1, frames, 16))

    def test_use_official_padding_equals_building_with_it(self):
        built = PASEBackbone.from_preset("pase_tiny", official_padding=True)
        switched = PASEBackbone.from_preset("pase_tiny")
        switched.set_weights(built.get_weights())
        x = _audio(2, 1601)
        self.assertGreater(np.max(np.abs(switched(x) - built(x))), 1e-3)
        use_official_padding(switched)
        config = {**switched.get_config(), "name": built.name}
        self.assertEqual(config, built.get_config())
        self.assertEqual(switched.min_samples, built.min_samples)
        self.assertAllEqual(switched(x), built(x))

    def test_reflect_padding_matches_numpy(self):
        x = np.random.normal(size=(2, 7, 3)).astype("float32")
        out = ReflectPadding1D((2, 3))(x)
        expected = np.pad(x, ((0, 0), (2, 3), (0, 0)), mode="reflect")
        self.assertAllEqual(out, expected)
        self.run_serialization_test(
            ReflectPadding1D((2, 3)), {"padding": [2, 3]}
        )

    def test_errors(self):
        with pytest.raises(ValueError, match="name='pase_large'"):
            PASEBackbone.from_preset("pase_large")
        with pytest.raises(ValueError, match="emb_dim=0"):
            PASEBackbone.from_preset("pase_tiny", emb_dim=0)
        with pytest.raises(ValueError, match="sinc_filters=-1"):
            PASEBackbone.from_preset("pase_tiny", sinc_filters=-1)
        with pytest.raises(ValueError, match="kernel_size=30"):
            PASEBackbone.from_preset("pase_tiny", sinc_kernel_size=30)
        with pytest.raises(ValueError, match="sample_rate=0"):
            PASEBackbone.from_preset("pase_tiny", sample_rate=0)
        with pytest.raises(ValueError, match=r"conv_filters=\[8, 8\]"):
            PASEBackbone.from_preset("pase_tiny", conv_filters=[8, 8])
        with pytest.raises(ValueError, match="conv_filters=0"):
            PASEBackbone.from_preset("pase_tiny", conv_filters=[0] * 7)
        backbone = PASEBackbone.from_preset("pase_tiny")
        with pytest.raises(ValueError, match="at least 480 samples"):
            backbone(_audio(1, 479))
        with pytest.raises(ValueError, match="official_padding=1"):
            PASEBackbone.from_preset("pase_tiny", official_padding=1)
        with pytest.raises(ValueError, match="padding=\\(1, -1\\)"):
            ReflectPadding1D((1, -1))
        with pytest.raises(ValueError, match="more than 3 frames"):
            ReflectPadding1D((3, 0))(np.zeros((1, 3, 2), "float32"))


class PASEBackboneSharedTest(TestCase):
    def test_shared_backbone_checks(self):
        self.run_backbone_test(
            PASEBackbone,
            pase_presets["pase_tiny"],
            _audio(2, 1600),
            expected_output_shape=(2, 10, 16),
        )
