import keras
import numpy as np
import pytest

from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_presets import backbone_presets
from tests.test_case import TestCase

# Parameters of the full models, from the shapes in REFERENCE.md §1:
# everything but the time encoding, plus 768 per time-grid column.
VIT_BASE_FIXED = (
    768 * 256
    + 768  # patch projection
    + 768 * 9  # frequency encoding
    + 2 * 768
    + 2 * 768  # cls, dist and their positions
    + 12 * 7_087_872  # blocks: ln1, qkv, proj, ln2, fc1, fc2
    + 2 * 768  # final LayerNorm
)
HEAD = 2 * 768 + 768 * 400 + 400  # LayerNorm + Dense(400)
HEAD_DIST = 768 * 400 + 400  # the unused second head


class MAESTBackboneTest(TestCase):
    def test_serialization_saving_and_export(self):
        init_kwargs = {
            **backbone_presets["maest_tiny"],
            "inference_time_stride": 2,
            "inference_freq_drop": [0, 8],
        }
        backbone = MAESTBackbone(**init_kwargs)
        self.run_serialization_test(backbone, init_kwargs)
        x = np.random.rand(2, 96, 66).astype("float32")
        self.assertEqual(tuple(backbone(x).shape), (2, 2 + 7 * 3, 32))
        self.run_model_saving_test(backbone, x)
        self.run_export_test(backbone, x)

    def test_training_patchout_token_count(self):
        backbone = MAESTBackbone.from_preset("maest_tiny")
        x = np.random.rand(2, 96, 66).astype("float32")
        # 6 - 2 time columns, 9 - 3 frequency rows.
        self.assertEqual(
            tuple(backbone(x, training=True).shape), (2, 2 + 4 * 6, 32)
        )
        self.assertEqual(tuple(backbone(x).shape), (2, 2 + 6 * 9, 32))

    def test_set_inference_patchout_changes_a_built_model(self):
        backbone = MAESTBackbone.from_preset("maest_tiny")
        x = np.random.rand(2, 96, 66).astype("float32")
        self.assertEqual(backbone.predict(x, verbose=0).shape, (2, 56, 32))
        backbone.set_inference_patchout(time_stride=3, freq_drop=(0, 7, 8))
        self.assertEqual(backbone.predict(x, verbose=0).shape, (2, 14, 32))
        self.assertEqual(backbone.get_config()["inference_time_stride"], 3)
        self.assertEqual(
            backbone.get_config()["inference_freq_drop"], [0, 7, 8]
        )
        with pytest.raises(ValueError, match="inference_time_stride=0"):
            backbone.set_inference_patchout(time_stride=0)

    def test_query_chunking_keeps_outputs_and_round_trips(self):
        x = np.random.rand(2, 96, 66).astype("float32")
        for stride in (1, 2):  # with and without inference patchout
            backbone = MAESTBackbone.from_preset("maest_tiny")
            backbone.set_inference_patchout(time_stride=stride)
            whole = backbone.predict(x, verbose=0)
            backbone.set_query_chunk_size(5)  # 56 or 29 tokens
            self.assertEqual(backbone.get_layer("block_2").query_chunk_size, 5)
            self.assertEqual(backbone.get_config()["query_chunk_size"], 5)
            # float32, the same products in another blocking: 1e-5.
            np.testing.assert_allclose(
                backbone.predict(x, verbose=0), whole, atol=1e-5
            )
        self.run_model_saving_test(backbone, x)
        # A SavedModel of any batch and length: the chunks are counted
        # when it runs.
        self.run_export_test(backbone, x)
        restored = MAESTBackbone.from_config(backbone.get_config())
        self.assertEqual(restored.query_chunk_size, 5)
        config = backbone.get_config()
        del config["query_chunk_size"]  # a file from before the option
        self.assertIsNone(MAESTBackbone.from_config(config).query_chunk_size)
        with pytest.raises(ValueError, match="query_chunk_size=0"):
            backbone.set_query_chunk_size(0)

    def test_shorter_and_longer_inputs(self):
        backbone = MAESTBackbone.from_preset("maest_tiny")
        self.assertEqual(
            tuple(backbone(np.zeros((1, 96, 40), "float32")).shape),
            (1, 2 + 9 * 3, 32),
        )
        with pytest.raises(ValueError, match="Split longer inputs"):
            backbone(np.zeros((1, 96, 100), "float32"))

    def test_mixed_precision(self):
        backbone = MAESTBackbone.from_preset("maest_tiny", dtype="bfloat16")
        out = backbone(np.random.rand(1, 96, 66).astype("float32"))
        self.assertEqual(keras.backend.standardize_dtype(out.dtype), "bfloat16")
        policy = "mixed_float16"
        backbone = MAESTBackbone.from_preset("maest_tiny", dtype=policy)
        out = backbone(np.random.rand(1, 96, 66).astype("float32"))
        self.assertEqual(keras.backend.standardize_dtype(out.dtype), "float16")
        self.assertTrue(all(w.dtype == "float32" for w in backbone.weights))

    def test_block_output_indexing_is_one_based(self):
        backbone = MAESTBackbone.from_preset("maest_tiny")
        self.assertIs(
            backbone.block_output(1), backbone.get_layer("block_1").output
        )
        self.assertIs(
            backbone.block_output(0),
            backbone.get_layer("patch_embedding").output,
        )
        with pytest.raises(ValueError, match="block=3"):
            backbone.block_output(3)

    def test_errors(self):
        with pytest.raises(ValueError, match="name='maest_60s'"):
            MAESTBackbone.from_preset("maest_60s")
        with pytest.raises(ValueError, match="num_layers=0"):
            MAESTBackbone.from_preset("maest_tiny", num_layers=0)
        with pytest.raises(ValueError, match="num_heads=3"):
            MAESTBackbone.from_preset("maest_tiny", num_heads=3)

    def test_full_presets_grid_and_parameter_count(self):
        grids = {"maest_5s": 31, "maest_10s": 62, "maest_20s": 125}
        grids["maest_30s"] = 187
        reference = {"maest_5s": 85.9e6, "maest_30s": 86.0e6}
        for name, grid in grids.items():
            frames = backbone_presets[name]["num_frames"]
            self.assertEqual((frames - 16) // 10 + 1, grid)
            if name not in reference:
                continue  # building a full model costs ~4 s; two suffice
            backbone = MAESTBackbone.from_preset(name)
            self.assertEqual(backbone.num_freq_patches, 9)
            self.assertEqual(backbone.num_time_patches, grid)
            count = backbone.count_params()
            self.assertEqual(count, VIT_BASE_FIXED + 768 * grid)
            # The reference counts include both heads; our tagger has one
            # (the unused `head_dist` is left out), so add it. 0.1%: the
            # reference is rounded to 0.1 M.
            total = count + HEAD + HEAD_DIST
            self.assertLess(
                abs(total - reference[name]) / reference[name], 1e-3
            )
            keras.backend.clear_session()

    @pytest.mark.large
    def test_full_size_forward(self):
        backbone = MAESTBackbone.from_preset("maest_30s")
        x = np.random.rand(1, 96, 1876).astype("float32")
        self.assertEqual(tuple(backbone(x).shape), (1, 2 + 9 * 187, 768))
        backbone.set_inference_patchout(time_stride=3, freq_drop=(0, 7, 8))
        self.assertEqual(tuple(backbone(x).shape), (1, 2 + 6 * 63, 768))
        self.assertEqual(
            tuple(backbone(x, training=True).shape),
            (1, 2 + 6 * (187 - 90), 768),
        )


class MAESTBackboneSharedTest(TestCase):
    def test_shared_backbone_checks(self):
        self.run_backbone_test(
            MAESTBackbone,
            backbone_presets["maest_tiny"],
            np.random.rand(2, 96, 66).astype("float32"),
            # cls + dist + 9 frequency x 6 time patches.
            expected_output_shape=(2, 56, 32),
        )
