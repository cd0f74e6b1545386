import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.data.tfrecord_dataset import tfrecord_dataset
from tests.data.tfrecord_writer_test import SAMPLE_RATE
from tests.data.tfrecord_writer_test import TARGET_HOP
from tests.data.tfrecord_writer_test import TASKS
from tests.data.tfrecord_writer_test import ramp_targets
from tests.data.tfrecord_writer_test import synthetic_track
from tests.data.tfrecord_writer_test import write
from tests.test_case import TestCase

# synthetic_track("t<i>") has 600 + 50 i samples at 8 kHz; a 0.1 s
# segment is 800 samples, so t0..t3 are shorter than a segment.
SEGMENT = 0.1
SEGMENT_SAMPLES = 800


def int16_audio(item):
    """What an int16 dataset stores for an item, back as float32."""
    audio = synthetic_track(item).audio
    return np.clip(np.round(audio * 32768.0), -32768, 32767) / 32768.0


class TFRecordDatasetTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.directory = tempfile_dir()
        cls.manifest = write(cls.directory, count=10)

    def read(self, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tfrecord_dataset(self.directory, **kwargs)

    def test_round_trip_is_bit_exact(self):
        dataset = self.read(task="genre")
        seen = set()
        for x, y in dataset:
            item = item_of_length(len(x))
            # int16 / 32768 is exact in float32: equal, not close.
            self.assertEqual(x.dtype, tf.float32)
            self.assertAllEqual(x, int16_audio(item).astype("float32"))
            expected = synthetic_track(item).labels["genre"][0]
            self.assertEqual(
                int(y), TASKS["genre"]["vocabulary"].index(expected)
            )
            seen.add(item)
        self.assertEqual(seen, {f"t{i}" for i in range(10)})

    def test_float16_round_trip(self):
        directory = tempfile_dir()
        write(directory, count=3, num_shards=1, audio_format="float16")
        dataset = tfrecord_dataset(directory, task="tags")
        for x, y in dataset:
            i = int(item_of_length(len(x))[1:])
            audio = synthetic_track(f"t{i}").audio
            # float16 widened to float32 exactly.
            self.assertAllEqual(x, audio.astype("float16").astype("float32"))
            hot = [1.0, 1.0][: i % 3] + [0.0] * (2 - i % 3)
            self.assertAllEqual(y, np.array(hot, "float32"))

    def test_targets(self):
        one_hot = self.read(
            task="genre", one_hot=True, mode="center", segment_seconds=SEGMENT
        )
        tags = self.read(task="tags", mode="center", segment_seconds=SEGMENT)
        for (x1, y1), (x2, y2) in zip(one_hot, tags):
            item = locate(x2.numpy())[0]
            # Both unshuffled: the same track order.
            self.assertEqual(locate(x1.numpy())[0], item)
            labels = synthetic_track(item).labels
            genre = TASKS["genre"]["vocabulary"].index(labels["genre"][0])
            self.assertAllEqual(y1, np.eye(3, dtype="float32")[genre])
            hot = [
                float(n in labels["tags"]) for n in TASKS["tags"]["vocabulary"]
            ]
            self.assertEqual(y2.dtype, tf.float32)
            self.assertAllEqual(y2, np.array(hot, "float32"))

    def test_center_crop_and_padding(self):
        with pytest.warns(
            UserWarning, match="4 of 10 tracks.*800 samples.*zero-padded"
        ):
            dataset = tfrecord_dataset(
                self.directory, segment_seconds=SEGMENT, mode="center"
            )
        for x in dataset:
            audio = int16_audio(locate(x.numpy())[0])
            if len(audio) < SEGMENT_SAMPLES:
                missing = SEGMENT_SAMPLES - len(audio)
                expected = np.pad(audio, (0, missing))
            else:
                start = (len(audio) - SEGMENT_SAMPLES) // 2
                expected = audio[start : start + SEGMENT_SAMPLES]
            self.assertAllEqual(x, expected.astype("float32"))

    def test_random_crop(self):
        dataset = self.read(segment_seconds=SEGMENT, task="genre", seed=3)
        starts = {}
        for _ in range(3):
            for x, y in dataset:
                item, start = locate(x.numpy())
                # A contiguous slice of the track, with the track's label.
                self.assertEqual(int(y), genre_index(item))
                starts.setdefault(item, set()).add(start)
        self.assertEqual(len(starts), 10)
        # Offsets change between epochs (t9 has 251 possible offsets).
        self.assertGreater(len(starts["t9"]), 1)
        first = [x.numpy() for x in self.read(segment_seconds=SEGMENT, seed=3)]
        again = [x.numpy() for x in self.read(segment_seconds=SEGMENT, seed=3)]
        # The same seed gives the same first epoch.
        self.assertAllEqual(again, first)

    def test_all_segments(self):
        dataset = self.read(segment_seconds=SEGMENT, mode="all", task="genre")
        segments = {}
        for x, y, track_id in dataset:
            item = track_id.numpy().decode()
            self.assertEqual(int(y), genre_index(item))
            segments.setdefault(item, []).append(x.numpy())
        self.assertEqual(len(segments), 10)
        for item, got in segments.items():
            audio = int16_audio(item).astype("float32")
            if len(audio) < SEGMENT_SAMPLES:
                expected = [np.pad(audio, (0, SEGMENT_SAMPLES - len(audio)))]
            else:
                # Hop of half a segment, the last one ending at the end.
                last = len(audio) - SEGMENT_SAMPLES
                starts = list(range(0, last + 1, SEGMENT_SAMPLES // 2))
                if starts[-1] != last:
                    starts.append(last)
                expected = [audio[s : s + SEGMENT_SAMPLES] for s in starts]
            self.assertAllEqual(np.stack(got), np.stack(expected))
        # t9: 1050 samples -> starts 0, 250 (end-aligned).
        self.assertEqual(len(segments["t9"]), 2)

    def test_batches_and_pattern(self):
        pattern = os.path.join(self.directory, "shard-0000[01]-*.tfrecord")
        dataset = self.read_pattern(pattern, batch_size=4)
        # Static segment length, as Keras models need.
        self.assertEqual(dataset.element_spec[0].shape.as_list(), [None, 800])
        shapes = [tuple(x.shape) for x, _ in dataset]
        # Shards 0 and 1 hold t0..t5 (3 + 3), centre-cropped to 800.
        self.assertEqual(shapes, [(4, 800), (2, 800)])
        padded = self.read(batch_size=3)
        # Whole tracks, zero-padded to the longest in the batch.
        self.assertEqual(tuple(next(iter(padded)).shape)[0], 3)

    def read_pattern(self, pattern, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tfrecord_dataset(
                pattern,
                segment_seconds=SEGMENT,
                mode="center",
                task="genre",
                **kwargs,
            )

    def test_balanced_epochs(self):
        dataset = self.read(
            segment_seconds=SEGMENT,
            task="tags",
            balanced=True,
            num_samples=4,
            seed=0,
        )
        epochs = []
        for _ in range(3):
            ids = [locate(x.numpy())[0] for x, _ in dataset]
            # Untagged tracks (t0, t3, t6, t9: weight 0) are never drawn.
            self.assertFalse({"t0", "t3", "t6", "t9"} & set(ids))
            self.assertEqual(len(ids), 4)
            self.assertEqual(len(set(ids)), 4)
            epochs.append(tuple(sorted(ids)))
        self.assertGreater(len(set(epochs)), 1, "every epoch drew the same")

    def test_repeat_gives_endless_epochs_drawn_from_the_seed(self):
        def epochs(count, **kwargs):
            dataset = self.read(
                segment_seconds=SEGMENT,
                task="tags",
                seed=0,
                repeat=True,
                # Records stay in epoch order.
                shuffle_buffer_size=1,
                **kwargs,
            )
            crops = [locate(x.numpy()) for x, _ in dataset.take(count * 6)]
            return [crops[e * count : (e + 1) * count] for e in range(6)]

        plain = epochs(10)
        for epoch in plain:
            # Every track once per epoch.
            self.assertCountEqual(
                [item for item, _ in epoch], [f"t{i}" for i in range(10)]
            )
        orders = {tuple(item for item, _ in epoch) for epoch in plain}
        self.assertGreater(len(orders), 1, "every epoch read the same order")
        # t9 has 251 crop offsets: they change from epoch to epoch.
        t9 = {start for epoch in plain for item, start in epoch if item == "t9"}
        self.assertGreater(len(t9), 1)
        # Epoch e depends on the seed and e only: a second dataset (or
        # iteration) gives the same epochs.
        self.assertEqual(epochs(10), plain)

        balanced = epochs(4, balanced=True, num_samples=4)
        for epoch in balanced:
            ids = [item for item, _ in epoch]
            # Untagged tracks (weight 0) are never drawn; no replacement.
            self.assertFalse({"t0", "t3", "t6", "t9"} & set(ids))
            self.assertEqual(len(set(ids)), 4)
        draws = {tuple(sorted(i for i, _ in epoch)) for epoch in balanced}
        self.assertGreater(len(draws), 1, "every epoch drew the same")

        # With replacement a track can be drawn twice in an epoch; each
        # draw gets its own crop.
        again = epochs(12, balanced=True, num_samples=12, replacement=True)
        twice = [
            {start for item_, start in epoch if item_ == item}
            for epoch in again
            for item in {"t7", "t8"}
            if sum(item_ == item for item_, _ in epoch) > 1
        ]
        self.assertTrue(twice)
        self.assertTrue(any(len(starts) > 1 for starts in twice))

    def test_corrupt_shard_names_the_file(self):
        directory = tempfile_dir()
        manifest = write(directory, count=6, num_shards=2)
        path = os.path.join(directory, manifest["shards"][1]["file"])
        # Damaged after the dataset was opened (opening checks the sha256
        # of every shard, tests/data/bad_records_test.py): the reader's
        # count of records still names the shard.
        dataset = tfrecord_dataset(directory, task="genre", mode="center")
        content = bytearray(open(path, "rb").read())
        content[len(content) // 2] ^= 0xFF
        open(path, "wb").write(content)
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=r"Corrupt or truncated TFRecord shard.*shard-00001-of-00002",
        ):
            list(dataset)

    def test_features(self):
        frontend = keras.layers.MelSpectrogram(
            fft_length=64,
            sequence_stride=32,
            sequence_length=64,
            num_mel_bins=8,
            sampling_rate=SAMPLE_RATE,
        )
        directory = tempfile_dir()
        write(directory, count=3, num_shards=1, frontend=frontend)
        # 0.04 s at 250 frames per second: 10 frames; tracks have 19-22.
        dataset = tfrecord_dataset(
            directory, segment_seconds=0.04, mode="all", task="genre"
        )
        segments = {}
        for x, y, track_id in dataset:
            item = track_id.numpy().decode()
            self.assertEqual(int(y), genre_index(item))
            segments.setdefault(item, []).append(x.numpy())
        self.assertEqual(sorted(segments), ["t0", "t1", "t2"])
        for item, got in segments.items():
            audio = synthetic_track(item).audio
            features = keras.ops.convert_to_numpy(frontend(audio[None]))[0]
            # Stored float16, widened exactly; windows of 10 frames, hop 5,
            # the last one ending on the last frame.
            features = features.astype("float16").astype("float32")
            last = features.shape[1] - 10
            starts = list(range(0, last + 1, 5))
            starts += [last] if starts[-1] != last else []
            expected = [features[:, s : s + 10] for s in starts]
            self.assertAllEqual(np.stack(got), np.stack(expected))
        batched = tfrecord_dataset(
            directory, segment_seconds=0.04, mode="center", batch_size=3
        )
        self.assertEqual(tuple(next(iter(batched)).shape), (3, 8, 10))

    def test_argument_errors(self):
        with pytest.raises(ValueError, match="mode='middle'"):
            tfrecord_dataset(self.directory, mode="middle")
        with pytest.raises(ValueError, match="segment_seconds=None"):
            tfrecord_dataset(self.directory, mode="all")
        with pytest.raises(ValueError, match="segment_seconds=-1"):
            tfrecord_dataset(self.directory, segment_seconds=-1)
        with pytest.raises(ValueError, match="batch_size=0"):
            tfrecord_dataset(self.directory, batch_size=0)
        with pytest.raises(ValueError, match="task='mood'"):
            tfrecord_dataset(self.directory, task="mood")
        with pytest.raises(ValueError, match="`repeat` must be a bool"):
            tfrecord_dataset(self.directory, repeat=1)
        with pytest.raises(ValueError, match="balanced=True.*task=None"):
            tfrecord_dataset(self.directory, balanced=True)
        with pytest.raises(ValueError, match="matches no directory"):
            tfrecord_dataset(os.path.join(self.directory, "nothing-*"))
        with pytest.raises(ValueError, match="No manifest.json"):
            tfrecord_dataset(tempfile_dir())
        with pytest.raises(ValueError, match="shuffle_buffer_size=0"):
            tfrecord_dataset(self.directory, shuffle_buffer_size=0)
        with pytest.raises(ValueError, match="cycle_length=0"):
            tfrecord_dataset(self.directory, cycle_length=0)

    def test_pattern_errors(self):
        stray = os.path.join(self.directory, "shard-99999-of-99999.tfrecord")
        open(stray, "wb").close()
        self.addCleanup(os.remove, stray)
        with pytest.raises(ValueError, match="not shards listed"):
            tfrecord_dataset(os.path.join(self.directory, "shard-*.tfrecord"))
        parent = tempfile_dir()
        for name in ("a", "b"):
            os.makedirs(os.path.join(parent, name))
            shard = os.path.join(parent, name, "shard-00000-of-00001.tfrecord")
            open(shard, "wb").close()
        with pytest.raises(ValueError, match="one dataset directory"):
            tfrecord_dataset(os.path.join(parent, "*", "shard-*"))

    def test_format_version_is_checked(self):
        import json

        directory = tempfile_dir()
        write(directory, count=1, num_shards=1)
        path = os.path.join(directory, "manifest.json")
        manifest = json.load(open(path))
        manifest["format_version"] = 99
        json.dump(manifest, open(path, "w"))
        with pytest.raises(ValueError, match="format_version=99"):
            tfrecord_dataset(directory)


def item_of_length(length):
    # synthetic_track("t<i>") has 600 + 50 i samples: unique lengths.
    return f"t{(length - 600) // 50}"


def genre_index(item):
    genre = synthetic_track(item).labels["genre"][0]
    return TASKS["genre"]["vocabulary"].index(genre)


def locate(segment):
    """`(item, start)` of the track slice (zero-padded) equal to `segment`."""
    for i in range(10):
        audio = int16_audio(f"t{i}").astype("float32")
        audio = np.pad(audio, (0, max(0, SEGMENT_SAMPLES - len(audio))))
        for start in range(len(audio) - SEGMENT_SAMPLES + 1):
            if np.array_equal(audio[start : start + SEGMENT_SAMPLES], segment):
                return f"t{i}", start
    raise AssertionError("The segment is not a slice of any track.")


def tempfile_dir():
    import atexit
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="keras_music_test_")
    atexit.register(shutil.rmtree, path, True)
    return path


def genre_target(audio):
    """A target named like the `genre` task (module level: picklable)."""
    return {"genre": np.zeros((len(audio) // 100, 1), "float32")}


class TFRecordDatasetTargetsTest(TestCase):
    """Audio and frame targets (`ramp`: the frame index) cut together."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.directory = tempfile_dir()
        cls.manifest = write(cls.directory, count=10, targets=ramp_targets)
        cls.frames = SEGMENT_SAMPLES // TARGET_HOP  # 8

    def read(self, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tfrecord_dataset(
                self.directory, targets=("ramp", "energy"), **kwargs
            )

    def normalized(self, item, start_frame, manifest=None):
        """What the reader must give for `item` from `start_frame`."""
        manifest = manifest or self.manifest
        expected = {}
        for name, value in ramp_targets(synthetic_track(item).audio).items():
            statistics = manifest["targets"]["statistics"][name]
            stored = value.astype("float16").astype("float64")
            z = (stored - statistics["mean"]) / statistics["std"]
            z = z[start_frame : start_frame + self.frames]
            # Frames past the end of a short track are zeros.
            expected[name] = np.pad(z, ((0, self.frames - len(z)), (0, 0)))
        return expected

    def check_aligned(self, x, ys, item=None):
        """The audio's start sample is 100 times the targets' first frame."""
        found, start = locate(x)
        self.assertEqual(item or found, found)
        self.assertEqual(start % TARGET_HOP, 0)
        expected = self.normalized(found, start // TARGET_HOP)
        for name in ("ramp", "energy"):
            self.assertEqual(ys[name].shape, expected[name].shape)
            # float32 (x - mean) / std against float64: 1e-5 on values of
            # order 1.
            self.assertAllClose(ys[name], expected[name], atol=1e-5)
        return found, start

    def test_random_crops_are_aligned(self):
        starts = {}
        dataset = self.read(segment_seconds=SEGMENT, seed=3)
        for _ in range(6):  # epochs: offsets are drawn again in each
            for x, ys in dataset:
                item, start = self.check_aligned(x.numpy(), ys)
                starts.setdefault(item, set()).add(start)
        self.assertEqual(len(starts), 10)
        # t9 has 1050 samples: frame starts 0, 1, 2 (start + 800 <= 1050).
        self.assertLessEqual(starts["t9"], {0, 100, 200})
        self.assertGreater(len(starts["t9"]), 1)
        self.assertEqual(starts["t0"], {0})

    def test_center_crops_are_aligned(self):
        for x, ys in self.read(segment_seconds=SEGMENT, mode="center"):
            item, start = self.check_aligned(x.numpy(), ys)
            room = max(0, len(synthetic_track(item).audio) - 800) // 100
            self.assertEqual(start, room // 2 * TARGET_HOP)

    def test_all_segments_with_labels(self):
        dataset = self.read(segment_seconds=SEGMENT, mode="all", task="genre")
        starts = {}
        for x, ys, track_id in dataset:
            item = track_id.numpy().decode()
            self.assertEqual(sorted(ys), ["energy", "genre", "ramp"])
            self.assertEqual(int(ys["genre"]), genre_index(item))
            _, start = self.check_aligned(x.numpy(), ys, item)
            starts.setdefault(item, []).append(start)
        # Frame hop 8 // 2 = 4, the last segment at the last frame start.
        self.assertEqual(starts["t9"], [0, 200])
        self.assertEqual(starts["t8"], [0, 200])
        self.assertEqual(starts["t5"], [0])
        self.assertEqual(starts["t0"], [0])

    def test_batches_and_whole_tracks(self):
        x, ys = next(iter(self.read(segment_seconds=SEGMENT, batch_size=4)))
        self.assertEqual(tuple(x.shape), (4, 800))
        self.assertEqual(tuple(ys["ramp"].shape), (4, 8, 1))
        self.assertEqual(tuple(ys["energy"].shape), (4, 8, 2))
        self.assertEqual(ys["ramp"].dtype, tf.float32)
        spec = self.read(segment_seconds=SEGMENT, batch_size=4).element_spec
        # Static shapes, as Keras models need.
        self.assertEqual(spec[1]["ramp"].shape.as_list(), [None, 8, 1])
        whole = self.read(
            batch_size=2, shuffle=False, task="genre", cycle_length=1
        )
        x, ys = next(iter(whole))
        # t0, t1: 600 and 650 samples -> 6 frames each, zero-padded batch.
        self.assertEqual(tuple(x.shape), (2, 650))
        self.assertEqual(tuple(ys["ramp"].shape), (2, 6, 1))
        self.assertAllClose(ys["ramp"][0], self.normalized("t0", 0)["ramp"][:6])
        self.assertEqual(ys["genre"].numpy().tolist(), [0, 1])
        # Without `targets`, a folder with targets reads as plain audio.
        plain = tfrecord_dataset(self.directory, shuffle=False, cycle_length=1)
        self.assertAllEqual(next(iter(plain)), int16_audio("t0"))

    def test_validation_folder_uses_training_statistics(self):
        def quiet_track(item):
            track = synthetic_track(item)
            track.audio = 0.25 * track.audio
            return track

        valid_dir = tempfile_dir()
        write(
            valid_dir,
            count=3,
            load_fn=quiet_track,
            targets=ramp_targets,
            target_statistics_from=self.directory,
        )
        dataset = tfrecord_dataset(
            valid_dir, targets=("energy",), shuffle=False
        )
        statistics = self.manifest["targets"]["statistics"]["energy"]
        energies = []
        for i, (x, ys) in enumerate(dataset):
            self.assertEqual(len(x), 600 + 50 * i)  # unshuffled: t0, t1, t2
            stored = ramp_targets(quiet_track(f"t{i}").audio)["energy"]
            stored = stored.astype("float16").astype("float64")
            expected = (stored - statistics["mean"]) / statistics["std"]
            self.assertAllClose(ys["energy"], expected, atol=1e-5)
            energies.append(ys["energy"].numpy())
        # Quieter than training: mean square well below the train mean.
        self.assertLess(np.concatenate(energies)[:, 0].mean(), -0.5)

    def test_target_errors(self):
        with pytest.raises(ValueError, match="stores none"):
            tfrecord_dataset(plain_folder(), targets=("ramp",))
        with pytest.raises(ValueError, match=r"targets=\('lps',\)"):
            tfrecord_dataset(self.directory, targets=("lps",))
        with pytest.raises(ValueError, match="targets='ramp'"):
            tfrecord_dataset(self.directory, targets="ramp")
        with pytest.raises(ValueError, match="segment_seconds=0.01"):
            tfrecord_dataset(
                self.directory, targets=("ramp",), segment_seconds=0.01
            )
        named = tempfile_dir()
        write(named, count=1, num_shards=1, targets=genre_target)
        with pytest.raises(ValueError, match="task='genre'"):
            tfrecord_dataset(named, targets=("genre",), task="genre")


def plain_folder():
    directory = tempfile_dir()
    write(directory, count=1, num_shards=1)
    return directory
