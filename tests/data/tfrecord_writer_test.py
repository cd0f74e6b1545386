import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.data.errors import AudioDecodeError
from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.data.track import Track
from keras_music.features.pase_targets import frame_targets
from tests.test_case import TestCase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SAMPLE_RATE = 8000
TASKS = {
    "genre": {"vocabulary": ["jazz", "rock", "pop"], "multi_label": False},
    "tags": {"vocabulary": ["piano", "voice"], "multi_label": True},
}


def synthetic_track(item):
    """A deterministic `Track` for item `"t<i>"` (module level: picklable)."""
    index = int(item[1:])
    rng = np.random.default_rng(index)
    audio = rng.uniform(-1, 1, 600 + 50 * index).astype("float32")
    return Track(
        track_id=item,
        audio=audio,
        sample_rate=SAMPLE_RATE,
        labels={
            "genre": [TASKS["genre"]["vocabulary"][index % 3]],
            "tags": TASKS["tags"]["vocabulary"][: index % 3],
        },
        metadata={"index": index},
    )


def items(count):
    return [f"t{i}" for i in range(count)]


def write(output_dir, count=7, load_fn=synthetic_track, **kwargs):
    kwargs = {"num_shards": 3, "progress": False, **kwargs}
    return write_tfrecords(
        items(count),
        load_fn,
        output_dir,
        tasks=TASKS,
        sample_rate=SAMPLE_RATE,
        **kwargs,
    )


def read_examples(path):
    """Records of a shard parsed with protobuf, independently of ours."""
    examples = []
    for record in tf.data.TFRecordDataset(path):
        example = tf.train.Example.FromString(record.numpy())
        examples.append(example.features.feature)
    return examples


def shard_bytes(output_dir, manifest):
    return {
        s["file"]: open(os.path.join(output_dir, s["file"]), "rb").read()
        for s in manifest["shards"]
    }


class WriteTFRecordsTest(TestCase):
    def test_int16_records(self):
        output_dir = self.get_temp_dir()
        manifest = write(output_dir)
        self.assertEqual(manifest["num_examples"], 7)
        # Contiguous chunks of 7 items over 3 shards.
        self.assertEqual(
            [s["num_examples"] for s in manifest["shards"]], [2, 2, 3]
        )
        seen = []
        for shard in manifest["shards"]:
            path = os.path.join(output_dir, shard["file"])
            digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
            self.assertEqual(shard["sha256"], digest)
            for feature in read_examples(path):
                track_id = feature["track_id"].bytes_list.value[0].decode()
                track = synthetic_track(track_id)
                data = np.frombuffer(feature["data"].bytes_list.value[0], "<i2")
                # int16 PCM is round(x * 32768), clipped: compared exactly.
                expected = np.clip(
                    np.round(track.audio * 32768.0), -32768, 32767
                )
                self.assertAllEqual(data, expected.astype("int16"))
                self.assertEqual(
                    list(feature["shape"].int64_list.value), [len(track.audio)]
                )
                self.assertEqual(
                    feature["sample_rate"].int64_list.value[0], SAMPLE_RATE
                )
                self.assertAllClose(
                    feature["duration"].float_list.value[0],
                    track.duration,
                    rtol=1e-6,  # stored as float32
                )
                genre = feature["labels/genre"].int64_list.value
                tags = feature["labels/tags"].int64_list.value
                vocabulary = TASKS["genre"]["vocabulary"]
                self.assertEqual(
                    [vocabulary[i] for i in genre], track.labels["genre"]
                )
                vocabulary = TASKS["tags"]["vocabulary"]
                self.assertEqual(
                    [vocabulary[i] for i in tags], track.labels["tags"]
                )
                seen.append(track_id)
        self.assertEqual(seen, items(7))
        on_disk = json.load(open(os.path.join(output_dir, "manifest.json")))
        self.assertEqual(on_disk, manifest)
        self.assertEqual(manifest["format_version"], 1)
        self.assertEqual(manifest["audio_format"], "int16")
        self.assertEqual(manifest["tasks"], TASKS)
        self.assertEqual(manifest["skipped"], [])
        # Tracks t0..t6: genre index i % 3, tags the first i % 3 names.
        self.assertEqual(
            manifest["label_counts"],
            {
                "genre": {"jazz": 3, "rock": 2, "pop": 2},
                "tags": {"piano": 4, "voice": 2},
            },
        )

    def test_float16_records(self):
        output_dir = self.get_temp_dir()
        manifest = write(
            output_dir, count=2, num_shards=1, audio_format="float16"
        )
        path = os.path.join(output_dir, manifest["shards"][0]["file"])
        for feature in read_examples(path):
            track = synthetic_track(
                feature["track_id"].bytes_list.value[0].decode()
            )
            data = np.frombuffer(feature["data"].bytes_list.value[0], "<f2")
            self.assertAllEqual(data, track.audio.astype("float16"))

    def test_bad_items_are_skipped_and_reported(self):
        def load_fn(item):
            if item == "t1":
                raise AudioDecodeError("t1.wav", "unreadable (garbage)")
            track = synthetic_track(item)
            if item == "t4":
                track.audio[3] = np.nan
            return track

        output_dir = self.get_temp_dir()
        manifest = write(output_dir, load_fn=load_fn)
        self.assertEqual(manifest["num_examples"], 5)
        self.assertEqual(
            [s["num_skipped"] for s in manifest["shards"]], [1, 0, 1]
        )
        reasons = {s["item"]: s["reason"] for s in manifest["skipped"]}
        self.assertEqual(set(reasons), {"'t1'", "'t4'"})
        self.assertIn("t1.wav", reasons["'t1'"])
        self.assertIn("garbage", reasons["'t1'"])
        self.assertIn("NaN", reasons["'t4'"])

    def test_interrupted_write_resumes_without_loss(self):
        clean_dir = self.get_temp_dir()
        clean = write(clean_dir)
        output_dir = self.get_temp_dir()

        def interrupted(item):
            if item == "t5":  # in the last shard
                raise KeyboardInterrupt
            return synthetic_track(item)

        with pytest.raises(KeyboardInterrupt):
            write(output_dir, load_fn=interrupted)
        self.assertFalse(
            os.path.exists(os.path.join(output_dir, "manifest.json"))
        )
        calls = []

        def counting(item):
            calls.append(item)
            return synthetic_track(item)

        manifest = write(output_dir, load_fn=counting)
        # Only the unfinished shard's items are decoded again.
        self.assertEqual(calls, ["t4", "t5", "t6"])
        self.assertEqual(manifest, clean)
        self.assertEqual(
            shard_bytes(output_dir, manifest), shard_bytes(clean_dir, clean)
        )
        leftovers = [f for f in os.listdir(output_dir) if "incomplete" in f]
        # The interrupted shard's temporary file was overwritten, renamed.
        self.assertEqual(leftovers, [])

    def test_killed_process_resumes_without_loss(self):
        clean_dir = self.get_temp_dir()
        clean = write(clean_dir, count=9)
        output_dir = self.get_temp_dir()
        flag = os.path.join(output_dir, "reached")
        script = (
            "import os, time\n"
            "from tests.data import tfrecord_writer_test as t\n"
            "def load(item):\n"
            "    if item == 't7':\n"
            f"        open({flag!r}, 'w').close()\n"
            "        time.sleep(600)\n"
            "    return t.synthetic_track(item)\n"
            f"t.write({output_dir!r}, count=9, load_fn=load)\n"
        )
        env = {**os.environ, "PYTHONPATH": ROOT}
        process = subprocess.Popen(
            [sys.executable, "-c", script], env=env, cwd=ROOT
        )
        try:
            deadline = time.time() + 120
            while not os.path.exists(flag) and process.poll() is None:
                self.assertLess(time.time(), deadline, "writer never started")
                time.sleep(0.1)
            self.assertIsNone(process.poll(), "writer died by itself")
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.wait()
        done = sorted(
            f for f in os.listdir(output_dir) if f.endswith(".index.json")
        )
        self.assertEqual(len(done), 2, "two of three shards were complete")
        calls = []

        def counting(item):
            calls.append(item)
            return synthetic_track(item)

        manifest = write(output_dir, count=9, load_fn=counting)
        self.assertEqual(calls, ["t6", "t7", "t8"])
        self.assertEqual(manifest, clean)
        self.assertEqual(
            shard_bytes(output_dir, manifest), shard_bytes(clean_dir, clean)
        )
        # The killed writer's temporary file is gone.
        leftovers = [f for f in os.listdir(output_dir) if "incomplete" in f]
        self.assertEqual(leftovers, [])

    def test_processes_writing_the_same_dataset_agree(self):
        # Workers of a multi-worker run build the same data at once.
        clean_dir = self.get_temp_dir()
        clean = write(clean_dir, count=9)
        output_dir = self.get_temp_dir()
        gate = self.get_temp_dir()
        script = (
            "import os, sys, time\n"
            "from tests.data import tfrecord_writer_test as t\n"
            f"open(os.path.join({gate!r}, sys.argv[1]), 'w').close()\n"
            f"while not os.path.exists(os.path.join({gate!r}, 'go')):\n"
            "    time.sleep(0.01)\n"
            f"t.write({output_dir!r}, count=9)\n"
        )
        env = {**os.environ, "PYTHONPATH": ROOT}
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", script, f"ready-{i}"], env=env, cwd=ROOT
            )
            for i in range(3)
        ]
        # All start writing at once, once imported.
        deadline = time.time() + 120
        while len(os.listdir(gate)) < len(processes):
            self.assertLess(time.time(), deadline, "writers never started")
            time.sleep(0.05)
        open(os.path.join(gate, "go"), "w").close()
        self.assertEqual([p.wait(timeout=300) for p in processes], [0] * 3)
        with open(os.path.join(output_dir, "manifest.json")) as stream:
            self.assertEqual(json.load(stream), json.loads(json.dumps(clean)))
        self.assertEqual(
            shard_bytes(output_dir, clean), shard_bytes(clean_dir, clean)
        )
        leftovers = [f for f in os.listdir(output_dir) if "incomplete" in f]
        self.assertEqual(leftovers, [])

    def test_reused_dataset_keeps_its_manifest_file(self):
        output_dir = self.get_temp_dir()
        write(output_dir)
        path = os.path.join(output_dir, "manifest.json")
        before = os.stat(path)
        write(output_dir)
        after = os.stat(path)
        self.assertEqual(
            (before.st_ino, before.st_mtime_ns),
            (after.st_ino, after.st_mtime_ns),
        )

    def test_changed_items_rewrite_the_shard(self):
        output_dir = self.get_temp_dir()
        write(output_dir, count=6)
        calls = []

        def counting(item):
            calls.append(item)
            return synthetic_track(item)

        write_tfrecords(
            ["t0", "t1", "t2", "t3", "t4", "t9"],
            counting,
            output_dir,
            tasks=TASKS,
            sample_rate=SAMPLE_RATE,
            num_shards=3,
            progress=False,
        )
        self.assertEqual(calls, ["t4", "t9"])

    def test_resampling_to_the_target_rate(self):
        output_dir = self.get_temp_dir()
        manifest = write_tfrecords(
            ["t0"],
            synthetic_track,
            output_dir,
            tasks=TASKS,
            sample_rate=2 * SAMPLE_RATE,
            progress=False,
        )
        path = os.path.join(output_dir, manifest["shards"][0]["file"])
        (feature,) = read_examples(path)
        # 600 samples at 8 kHz are 1200 at 16 kHz.
        self.assertEqual(list(feature["shape"].int64_list.value), [1200])
        self.assertEqual(manifest["sample_rate"], 16000)

    def test_frontend_features(self):
        frontend = keras.layers.MelSpectrogram(
            fft_length=64,
            sequence_stride=32,
            sequence_length=64,
            num_mel_bins=8,
            sampling_rate=SAMPLE_RATE,
        )
        output_dir = self.get_temp_dir()
        manifest = write(output_dir, count=2, num_shards=1, frontend=frontend)
        self.assertEqual(manifest["data_kind"], "features")
        self.assertIsNone(manifest["audio_format"])
        self.assertEqual(manifest["feature_shape"], [8, None])
        # 32-sample hop at 8 kHz: 250 frames per second.
        self.assertEqual(manifest["frame_rate"], 250.0)
        revived = keras.saving.deserialize_keras_object(manifest["frontend"])
        self.assertEqual(revived.get_config(), frontend.get_config())
        path = os.path.join(output_dir, manifest["shards"][0]["file"])
        for feature in read_examples(path):
            track = synthetic_track(
                feature["track_id"].bytes_list.value[0].decode()
            )
            shape = list(feature["shape"].int64_list.value)
            data = np.frombuffer(feature["data"].bytes_list.value[0], "<f2")
            expected = keras.ops.convert_to_numpy(frontend(track.audio[None]))[
                0
            ]
            self.assertEqual(shape, list(expected.shape))
            # Stored as float16: exactly the float16 rounding of the output.
            self.assertAllEqual(data.reshape(shape), expected.astype("float16"))

    @pytest.mark.large  # spawning workers that import TensorFlow: ~30 s
    def test_worker_processes(self):
        clean_dir = self.get_temp_dir()
        clean = write(clean_dir, count=4, num_shards=2)
        output_dir = self.get_temp_dir()
        manifest = write(output_dir, count=4, num_shards=2, num_workers=2)
        self.assertEqual(manifest, clean)
        self.assertEqual(
            shard_bytes(output_dir, manifest), shard_bytes(clean_dir, clean)
        )

    def test_argument_errors(self):
        output_dir = self.get_temp_dir()
        with pytest.raises(ValueError, match="load_fn=3"):
            write_tfrecords([], 3, output_dir, tasks=TASKS, sample_rate=8000)
        with pytest.raises(ValueError, match="num_shards=0"):
            write(output_dir, num_shards=0)
        with pytest.raises(ValueError, match="sample_rate=-1"):
            write_tfrecords(
                [], synthetic_track, output_dir, tasks=TASKS, sample_rate=-1
            )
        with pytest.raises(ValueError, match="audio_format='int8'"):
            write(output_dir, audio_format="int8")
        with pytest.raises(ValueError, match="frontend='mel'"):
            write(output_dir, frontend="mel")
        with pytest.raises(ValueError, match="num_workers=0"):
            write(output_dir, num_workers=0)
        bad_tasks = [
            ["genre"],
            {"genre": {"vocabulary": [], "multi_label": False}},
            {"genre": {"vocabulary": ["a", "a"], "multi_label": False}},
            {"genre": {"vocabulary": ["a"], "multi_label": "no"}},
        ]
        for tasks in bad_tasks:
            with pytest.raises(ValueError, match="tasks="):
                write_tfrecords(
                    [],
                    synthetic_track,
                    output_dir,
                    tasks=tasks,
                    sample_rate=8000,
                )

    def test_track_errors(self):
        def relabel(labels):
            def load_fn(item):
                track = synthetic_track(item)
                track.labels = labels
                return track

            return load_fn

        with pytest.raises(ValueError, match=r"'t0'.*\['metal'\].*'genre'"):
            write(self.get_temp_dir(), load_fn=relabel({"genre": ["metal"]}))
        with pytest.raises(ValueError, match="'t0'.*single-label"):
            write(
                self.get_temp_dir(),
                load_fn=relabel({"genre": ["jazz", "rock"]}),
            )
        with pytest.raises(ValueError, match="must return a Track"):
            write(self.get_temp_dir(), load_fn=lambda item: item)

        def stereo(item):
            track = synthetic_track(item)
            track.audio = np.stack([track.audio, track.audio])
            return track

        with pytest.raises(ValueError, match="'t0'.*mono"):
            write(self.get_temp_dir(), load_fn=stereo)

        def same_id(item):
            track = synthetic_track(item)
            track.track_id = "same"
            return track

        with pytest.raises(ValueError, match="'same' appears twice"):
            write(self.get_temp_dir(), load_fn=same_id)

    def test_frontend_with_bad_output_rank(self):
        with pytest.raises(
            ValueError, match=r"Received: output shape=\(1, 8000\)"
        ):
            write(self.get_temp_dir(), frontend=keras.layers.Identity())


TARGET_HOP = 100  # At 8 kHz: 80 frames per second.


def ramp_targets(audio):
    """Frame index and frame mean square (module level: picklable)."""
    frames = len(audio) // TARGET_HOP
    framed = np.reshape(audio[: frames * TARGET_HOP], (frames, TARGET_HOP))
    return {
        "ramp": np.arange(frames, dtype=np.float32)[:, None],
        "energy": np.stack(
            [np.mean(framed**2, axis=1), np.max(framed, axis=1)], axis=1
        ),
    }


def stored_targets(output_dir, manifest):
    """track id -> {name: float16 (frames, dim)}, parsed with protobuf."""
    dims = manifest["targets"]["dims"]
    stored = {}
    for shard in manifest["shards"]:
        for feature in read_examples(os.path.join(output_dir, shard["file"])):
            track_id = feature["track_id"].bytes_list.value[0].decode()
            stored[track_id] = {
                name: np.frombuffer(
                    feature[f"targets/{name}"].bytes_list.value[0], "<f2"
                ).reshape(-1, dim)
                for name, dim in dims.items()
            }
    return stored


class WriteTargetsTest(TestCase):
    def test_targets_and_training_statistics(self):
        output_dir = self.get_temp_dir()
        manifest = write(output_dir, targets=ramp_targets)
        spec = manifest["targets"]
        self.assertEqual(spec["names"], ["energy", "ramp"])
        self.assertEqual(spec["dims"], {"energy": 2, "ramp": 1})
        self.assertEqual(spec["hop_length"], TARGET_HOP)
        self.assertEqual(spec["frame_rate"], 80.0)
        self.assertEqual(
            spec["function"], "tests.data.tfrecord_writer_test.ramp_targets"
        )
        self.assertIsNone(spec["statistics_from"])
        stored = stored_targets(output_dir, manifest)
        self.assertEqual(sorted(stored), items(7))
        for track_id, targets in stored.items():
            expected = ramp_targets(synthetic_track(track_id).audio)
            for name, value in targets.items():
                # float16 storage: exactly the float16 rounding.
                self.assertAllEqual(value, expected[name].astype("float16"))
        entries = [
            e
            for shard in manifest["shards"]
            for e in json.load(open(os.path.join(output_dir, shard["index"])))[
                "tracks"
            ]
        ]
        self.assertEqual(
            [e["target_frames"] for e in entries],
            [(600 + 50 * i) // TARGET_HOP for i in range(7)],
        )
        for name in spec["names"]:
            values = np.concatenate([stored[t][name] for t in items(7)]).astype(
                np.float64
            )
            statistics = spec["statistics"][name]
            self.assertEqual(statistics["count"], len(values))
            # Chan's merge of per-track float64 moments against NumPy's
            # two-pass float64 statistics: equal to rounding, 1e-12.
            self.assertAllClose(
                np.asarray(statistics["mean"]),
                values.mean(0),
                rtol=1e-12,
                atol=1e-15,
            )
            self.assertAllClose(
                np.asarray(statistics["std"]),
                values.std(0),
                rtol=1e-12,
                atol=1e-15,
            )

    def test_valid_split_takes_the_training_statistics(self):
        train_dir = self.get_temp_dir()
        train = write(train_dir, count=5, targets=ramp_targets)

        def valid_track(item):
            track = synthetic_track(item)
            track.audio = 0.1 * track.audio  # other statistics than train
            return track

        valid_dir = self.get_temp_dir()
        valid = write(
            valid_dir,
            count=3,
            load_fn=valid_track,
            targets=ramp_targets,
            target_statistics_from=train_dir,
        )
        self.assertEqual(
            valid["targets"]["statistics"], train["targets"]["statistics"]
        )
        self.assertEqual(valid["targets"]["statistics_from"], train_dir)
        own = write(
            self.get_temp_dir(),
            count=3,
            load_fn=valid_track,
            targets=ramp_targets,
        )["targets"]["statistics"]
        self.assertNotEqual(
            own["energy"]["mean"],
            train["targets"]["statistics"]["energy"]["mean"],
        )

    def test_pase_target_names(self):
        def track_16k(item):
            audio = np.random.default_rng(int(item[1:])).uniform(
                -0.5, 0.5, 4000
            )
            return Track(item, audio.astype("float32"), 16000, {})

        output_dir = self.get_temp_dir()
        manifest = write_tfrecords(
            ["t0", "t1"],
            track_16k,
            output_dir,
            tasks={},
            sample_rate=16000,
            targets=frame_targets(["lps", "prosody"]),
            progress=False,
        )
        spec = manifest["targets"]
        self.assertEqual(spec["dims"], {"lps": 1025, "prosody": 4})
        self.assertEqual((spec["hop_length"], spec["frame_rate"]), (160, 100.0))
        self.assertEqual(
            spec["function"],
            "keras_music.features.pase_targets.pase_targets version 1",
        )
        from keras_music.features.pase_targets import pase_targets

        for track_id, targets in stored_targets(output_dir, manifest).items():
            expected = pase_targets(
                track_16k(track_id).audio, names=("lps", "prosody")
            )
            for name in ("lps", "prosody"):
                self.assertEqual(targets[name].shape, (25, spec["dims"][name]))
                self.assertAllEqual(
                    targets[name], expected[name].astype("float16")
                )
        with pytest.raises(ValueError, match="sample_rate=8000"):
            write(self.get_temp_dir(), targets=frame_targets(["lps"]))

    def test_interrupted_write_with_targets_resumes(self):
        clean = write(self.get_temp_dir(), targets=ramp_targets)
        output_dir = self.get_temp_dir()

        def interrupted(item):
            if item == "t5":
                raise KeyboardInterrupt
            return synthetic_track(item)

        with pytest.raises(KeyboardInterrupt):
            write(output_dir, load_fn=interrupted, targets=ramp_targets)
        calls = []

        def counting(item):
            calls.append(item)
            return synthetic_track(item)

        manifest = write(output_dir, load_fn=counting, targets=ramp_targets)
        # Finished shards keep their moments in their index: the merged
        # statistics are those of a clean run.
        self.assertEqual(calls, ["t4", "t5", "t6"])
        self.assertEqual(manifest, clean)
        # Other targets are other records: every shard is written again.
        calls.clear()

        def only_ramp(audio):
            return {"ramp": ramp_targets(audio)["ramp"]}

        write(output_dir, load_fn=counting, targets=only_ramp)
        self.assertEqual(calls, items(7))

    @pytest.mark.large  # spawning workers that import TensorFlow: ~30 s
    def test_targets_in_worker_processes(self):
        clean_dir = self.get_temp_dir()
        clean = write(clean_dir, count=4, num_shards=2, targets=ramp_targets)
        output_dir = self.get_temp_dir()
        manifest = write(
            output_dir,
            count=4,
            num_shards=2,
            num_workers=2,
            targets=ramp_targets,
        )
        self.assertEqual(manifest, clean)
        self.assertEqual(
            shard_bytes(output_dir, manifest), shard_bytes(clean_dir, clean)
        )

    def test_short_tracks_are_skipped(self):
        def short(item):
            track = synthetic_track(item)
            if item == "t1":
                track.audio = track.audio[:99]
            return track

        manifest = write(
            self.get_temp_dir(), load_fn=short, targets=ramp_targets
        )
        (skipped,) = manifest["skipped"]
        self.assertIn(
            "99 samples, shorter than one target frame", skipped["reason"]
        )

    def test_target_errors(self):
        output_dir = self.get_temp_dir()
        with pytest.raises(ValueError, match="targets=3"):
            write(output_dir, targets=3)
        with pytest.raises(ValueError, match="not with a `frontend`"):
            write(
                output_dir,
                targets=ramp_targets,
                frontend=keras.layers.Identity(),
            )
        with pytest.raises(ValueError, match="waveform"):
            write(output_dir, targets=frame_targets(["waveform"]))
        with pytest.raises(ValueError, match="a `FrameTargets` or a callable"):
            write(output_dir, targets={"lps": 1025})
        with pytest.raises(ValueError, match="for one integer hop"):
            write(output_dir, targets=lambda audio: {"x": np.zeros((3, 2))})
        with pytest.raises(ValueError, match="for one integer hop"):
            write(output_dir, targets=lambda audio: np.zeros((3, 2)))
        with pytest.raises(
            ValueError, match="target_statistics_from=.*targets=None"
        ):
            write(output_dir, target_statistics_from=output_dir)
        plain = self.get_temp_dir()
        write(plain, count=1, num_shards=1)
        with pytest.raises(ValueError, match="with targets None"):
            write(
                output_dir, targets=ramp_targets, target_statistics_from=plain
            )

        train = self.get_temp_dir()
        write(train, count=1, num_shards=1, targets=ramp_targets)

        def other_dims(audio):
            return {"ramp": np.zeros((len(audio) // TARGET_HOP, 3))}

        with pytest.raises(ValueError, match=r"same targets \{'ramp': 3\}"):
            write(output_dir, targets=other_dims, target_statistics_from=train)

        def other_hop(audio):
            frames = len(audio) // (2 * TARGET_HOP)
            return {
                "ramp": np.zeros((frames, 1)),
                "energy": np.zeros((frames, 2)),
            }

        with pytest.raises(ValueError, match="hop 100, these at 200"):
            write(output_dir, targets=other_hop, target_statistics_from=train)

        def overflowing(audio):
            return {"ramp": np.full((len(audio) // TARGET_HOP, 1), 1e6)}

        with pytest.raises(ValueError, match="'t0'.*beyond float16"):
            write(output_dir, targets=overflowing)
