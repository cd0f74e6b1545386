import functools
import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import soundfile

from keras_music.data.audio import load_audio
from keras_music.data.datasets.dataset_item import DatasetItem
from keras_music.data.datasets.dataset_layout import DatasetLayout
from keras_music.data.datasets.folder_csv import FolderCSV
from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.features.pase_targets import pase_targets
from keras_music.layers.cqt import CQT
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from tests.test_case import TestCase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SCRIPT = os.path.join(ROOT, "tfrecords", "make_tfrecords.py")
# The script is not in a package: load it as a module to test its parts.
_spec = importlib.util.spec_from_file_location("make_tfrecords", SCRIPT)
make_tfrecords = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_tfrecords)


def run_script(*args):
    return subprocess.run(
        [sys.executable, SCRIPT, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


class MakeTFRecordsTest(TestCase):
    def test_folder_with_a_bad_file(self):
        audio_dir = self.get_temp_dir()
        rng = np.random.default_rng(0)
        clips = {}
        os.makedirs(os.path.join(audio_dir, "sub"))
        for i, name in enumerate(["a.wav", "sub/b.wav", "c.wav"]):
            pcm = rng.integers(-20000, 20000, 1600 + 160 * i, dtype="int16")
            soundfile.write(os.path.join(audio_dir, name), pcm, 16000)
            clips[name] = pcm
        with open(os.path.join(audio_dir, "broken.wav"), "wb") as stream:
            stream.write(b"RIFF not really a wav file")
        labels = os.path.join(audio_dir, "labels.csv")
        with open(labels, "w") as stream:
            stream.write(
                "path,label,tags\n"
                "a.wav,rock,guitar;drums\n"
                "sub/b.wav,jazz,piano\n"
                "broken.wav,rock,\n"
                "c.wav,jazz,\n"
            )
        output = os.path.join(self.get_temp_dir(), "out")
        result = run_script(
            f"--audio_dir={audio_dir}",
            f"--labels={labels}",
            f"--output={output}",
            "--sample_rate=16000",
            "--num_shards=2",
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("Wrote 3 tracks in 2 shards", result.stdout)
        self.assertIn("broken.wav", result.stdout)
        manifest = json.load(open(os.path.join(output, "manifest.json")))
        self.assertEqual(manifest["num_examples"], 3)
        self.assertEqual(
            manifest["tasks"],
            {
                "label": {"vocabulary": ["jazz", "rock"], "multi_label": False},
                "tags": {
                    "vocabulary": ["drums", "guitar", "piano"],
                    "multi_label": True,
                },
            },
        )
        (skipped,) = manifest["skipped"]
        self.assertIn("broken.wav", skipped["item"])
        self.assertIn("unreadable", skipped["reason"])
        dataset = tfrecord_dataset(output, task="tags", shuffle=False)
        read = {}
        for x, y in dataset:
            name = {len(p): n for n, p in clips.items()}[len(x)]
            read[name] = y.numpy().tolist()
            # 16-bit files at the target rate are stored bit for bit.
            self.assertAllEqual(x, clips[name] / np.float32(32768.0))
        self.assertEqual(
            read,
            {
                "a.wav": [1.0, 1.0, 0.0],
                "sub/b.wav": [0.0, 0.0, 1.0],
                "c.wav": [0.0, 0.0, 0.0],
            },
        )

    def test_dataset_layout_and_split_column(self):
        # fma_small in its layout, through the command line.
        root = self.get_temp_dir()
        os.makedirs(os.path.join(root, "fma_metadata"))
        with open(os.path.join(root, "fma_metadata", "tracks.csv"), "w") as f:
            f.write(
                ",set,set,track\n,split,subset,genre_top\ntrack_id,,,\n"
                "2,training,small,Hip-Hop\n10,validation,small,Pop\n"
                "140,test,small,Folk\n"
            )
        for i, track_id in enumerate(["000002", "000010", "000140"]):
            path = os.path.join(root, "fma_small", track_id[:3])
            os.makedirs(path, exist_ok=True)
            audio = np.random.default_rng(i).uniform(-0.5, 0.5, 1600)
            # FMA ships mp3; libsndfile >= 1.1 writes it too.
            soundfile.write(os.path.join(path, f"{track_id}.mp3"), audio, 8000)
        output = os.path.join(self.get_temp_dir(), "out")
        result = run_script(
            "--dataset=fma_small",
            f"--root={root}",
            f"--output={output}",
            "--sample_rate=8000",
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        for split in ("train", "valid", "test"):
            self.assertIn(
                f"Wrote 1 tracks in 1 shards to {os.path.join(output, split)}",
                result.stdout,
            )
        manifest = json.load(
            open(os.path.join(output, "test", "manifest.json"))
        )
        self.assertEqual(manifest["label_counts"]["genre"]["Folk"], 1)
        # Flags of both modes at once, or mtg_jamendo without its repo:
        # refused by the flag validator before anything runs.
        values = dict(
            dataset="gtzan",
            root=root,
            audio_dir=None,
            labels=None,
            jamendo_repo=None,
        )
        self.assertTrue(make_tfrecords._check_mode(values))
        self.assertFalse(make_tfrecords._check_mode(dict(values, labels="x")))
        self.assertFalse(
            make_tfrecords._check_mode(dict(values, dataset="mtg_jamendo"))
        )
        self.assertFalse(
            make_tfrecords._check_mode(dict(values, jamendo_repo="x"))
        )
        csv_mode = dict(
            values, dataset=None, root=None, audio_dir=root, labels="x"
        )
        self.assertTrue(make_tfrecords._check_mode(csv_mode))

    def test_make_layout(self):
        root = self.get_temp_dir()
        repo = os.path.join(root, "repo", "data", "splits", "split-1")
        os.makedirs(repo)
        for name in ("train", "validation", "test"):
            with open(
                os.path.join(repo, f"autotagging_moodtheme-{name}.tsv"), "w"
            ) as stream:
                stream.write(
                    "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\n"
                    f"track_{len(name)}\ta\tb\t01/1.mp3\t9.0\tmood---{name}\n"
                )
        layout = make_tfrecords.make_layout(
            "mtg_jamendo", root, os.path.join(root, "repo"), "moodtheme", 1
        )
        self.assertEqual(
            (layout.subset, layout.split_index, len(layout.vocabulary)),
            ("moodtheme", 1, 3),
        )

    def test_feature_frontends(self):
        # The layers the --features flag names, at the --sample_rate.
        mel = make_tfrecords.make_frontend("mel", 16000)
        self.assertIsInstance(mel, LogMelSpectrogram)
        self.assertEqual(mel.sample_rate, 16000)
        cqt = make_tfrecords.make_frontend("cqt", 22050)
        self.assertIsInstance(cqt, CQT)
        self.assertEqual(cqt.sample_rate, 22050)
        self.assertIsNone(make_tfrecords.make_frontend("none", 16000))

    def test_mel_features_end_to_end(self):
        audio_dir = self.get_temp_dir()
        audio = np.random.default_rng(1).uniform(-0.5, 0.5, 8000)
        soundfile.write(os.path.join(audio_dir, "a.wav"), audio, 16000)
        items = [
            DatasetItem(
                "a.wav", os.path.join(audio_dir, "a.wav"), {"label": ["rock"]}
            )
        ]
        tasks = {"label": {"vocabulary": ["rock"], "multi_label": False}}
        output = os.path.join(self.get_temp_dir(), "out")
        frontend = make_tfrecords.make_frontend("mel", 16000)
        manifest = write_tfrecords(
            items,
            functools.partial(DatasetLayout.load_item, sample_rate=16000),
            output,
            tasks=tasks,
            sample_rate=16000,
            frontend=frontend,
            progress=False,
        )
        # Hop 256 at 16 kHz: 62.5 frames per second, 96 mel bands.
        self.assertEqual(manifest["frame_rate"], 62.5)
        self.assertEqual(manifest["feature_shape"], [96, None])
        (x, y) = next(iter(tfrecord_dataset(output, task="label")))
        pcm = load_audio(os.path.join(audio_dir, "a.wav"), 16000)
        expected = keras.ops.convert_to_numpy(frontend(pcm[None]))[0]
        # Stored as float16: the float16 rounding of the layer's output.
        self.assertAllEqual(x, expected.astype("float16").astype("float32"))
        self.assertEqual(int(y), 0)

    def test_pase_targets_with_split_column(self):
        audio_dir = self.get_temp_dir()
        rng = np.random.default_rng(2)
        rows = ["path,label,split"]
        splits = {"a": "train", "b": "train", "c": "valid", "d": "test"}
        for i, (name, split) in enumerate(splits.items()):
            # Train loud, valid/test quiet: other statistics than train's.
            gain = 0.5 if split == "train" else 0.05
            pcm = (gain * rng.uniform(-1, 1, 4000 + 160 * i) * 32767).astype(
                "int16"
            )
            soundfile.write(os.path.join(audio_dir, f"{name}.wav"), pcm, 16000)
            rows.append(f"{name}.wav,{'xy'[i % 2]},{split}")
        labels = os.path.join(audio_dir, "labels.csv")
        with open(labels, "w") as stream:
            stream.write("\n".join(rows) + "\n")
        output = os.path.join(self.get_temp_dir(), "out")
        targets = make_tfrecords.make_targets("pase")
        self.assertEqual(
            targets.names, ["lps", "mfcc", "chroma", "tempogram", "prosody"]
        )
        self.assertIsNone(make_tfrecords.make_targets("mel"))
        self.assertIsNone(make_tfrecords.make_frontend("pase", 16000))
        manifests = make_tfrecords.write(
            FolderCSV(audio_dir, labels),
            output,
            16000,
            targets=targets,
            progress=False,
        )
        train_dir = os.path.join(output, "train")
        train = manifests[train_dir]["targets"]
        self.assertIsNone(train["statistics_from"])
        self.assertEqual(train["statistics"]["lps"]["count"], 25 + 26)
        for split in ("valid", "test"):
            folder = os.path.join(output, split)
            spec = manifests[folder]["targets"]
            self.assertEqual(spec["statistics_from"], train_dir)
            self.assertEqual(spec["statistics"], train["statistics"])
            # Read back: the targets of the file, z-normalised with the
            # TRAIN statistics (float16 storage is the only rounding).
            name = "c" if split == "valid" else "d"
            pcm = load_audio(os.path.join(audio_dir, f"{name}.wav"), 16000)
            expected = pase_targets(pcm)
            dataset = tfrecord_dataset(folder, targets=tuple(expected))
            (x, ys) = next(iter(dataset))
            self.assertAllEqual(x, pcm)
            for target, value in expected.items():
                statistics = train["statistics"][target]
                std = np.asarray(statistics["std"])
                scale = np.where(std > 0, std, 1.0)
                z = (value.astype("float16") - statistics["mean"]) / scale
                # float32 arithmetic on float16 values: 1e-4 relative.
                self.assertAllClose(ys[target], z, atol=1e-4, rtol=1e-4)
            # Quiet audio against loud training audio: low energy.
            self.assertLess(float(np.mean(ys["prosody"][:, 2])), -1.0)
        # The flag check: only 16 kHz with --features pase.
        values = {"features": "pase", "sample_rate": 16000}
        self.assertTrue(make_tfrecords._check_pase_rate(values))
        self.assertFalse(
            make_tfrecords._check_pase_rate(dict(values, sample_rate=22050))
        )
        self.assertTrue(
            make_tfrecords._check_pase_rate(
                {"features": "mel", "sample_rate": 22050}
            )
        )
