"""`through_data_service` against a dispatcher and two workers on
127.0.0.1 (in-process servers, free ports), and the recipes through it."""

import collections
import faulthandler
import os
import subprocess
import sys
import tempfile
import time
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.data.data_service import start_dispatcher
from keras_music.data.data_service import start_worker
from keras_music.data.data_service import through_data_service
from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.data.tune_corpus import build_tune_corpus
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.layers.mixup import Mixup
from keras_music.layers.spec_augment import SpecAugment
from tests.data.tfrecord_writer_test import SAMPLE_RATE
from tests.data.tfrecord_writer_test import write
from tests.recipes.recipe_runner import ENV
from tests.recipes.recipe_runner import ROOT
from tests.recipes.recipe_runner import free_ports
from tests.recipes.recipe_runner import recipe_command
from tests.recipes.recipe_runner import run_recipe
from tests.test_case import TestCase

TRACKS = 12
BATCH = 4
N_MELS = 16
# 0.1 s at 8 kHz = 800 samples; hop 64, centred frames: 800 // 64 + 1.
FRAMES = 13
# A hung gRPC call blocks in C++, where no Python timeout fires; this
# ends the whole test process instead (with every thread's traceback).
DEADLINE_SECONDS = 300


def port_of(target):
    return int(target.rsplit(":", 1)[1])


class DataServiceTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        faulthandler.dump_traceback_later(DEADLINE_SECONDS, exit=True)
        cls.directory = tempfile.mkdtemp()
        # synthetic_track("t<i>") has 600 + 50 i samples: the length
        # names the track.
        write(cls.directory, count=TRACKS, num_shards=3)
        cls.dispatcher = start_dispatcher(port=0)
        port = port_of(cls.dispatcher.target)
        cls.address = f"grpc://127.0.0.1:{port}"
        cls.workers = [start_worker(f"127.0.0.1:{port}") for _ in range(2)]

    @classmethod
    def tearDownClass(cls):
        for worker in cls.workers:
            worker.stop()
        cls.dispatcher.stop()
        faulthandler.cancel_dump_traceback_later()
        super().tearDownClass()

    def read(self, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # short tracks are padded
            return tfrecord_dataset(self.directory, **kwargs)

    def training_pipeline(self, balanced):
        """MAEST's: random crops, log-mel, mixup, SpecAugment, repeated."""
        frontend = LogMelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=256, hop_length=64, n_mels=N_MELS
        )
        mixup = Mixup(alpha=0.3, seed=0)
        spec_augment = SpecAugment(
            max_time_masks=2, time_mask_width=2, freq_mask_width=2, seed=0
        )
        dataset = self.read(
            segment_seconds=0.1,
            task="genre",
            batch_size=BATCH,
            seed=0,
            balanced=balanced,
            one_hot=True,
            drop_remainder=True,
            repeat=True,
        )

        def augment(audio, y):
            x, y = mixup((frontend(audio), y), training=True)
            return spec_augment(x, training=True), y

        return dataset.map(augment)

    def test_trains_a_model_through_two_workers(self):
        remote = through_data_service(
            self.training_pipeline(balanced=True), self.address
        )
        x, y = next(iter(remote))
        self.assertEqual(tuple(x.shape), (BATCH, N_MELS, FRAMES))
        self.assertEqual(x.dtype, tf.float32)
        self.assertEqual(tuple(y.shape), (BATCH, 3))
        self.assertEqual(y.dtype, tf.float32)
        # Mixup ran on the workers: the targets are mixed one-hots.
        np.testing.assert_allclose(y.numpy().sum(axis=1), 1.0, atol=1e-6)
        model = keras.Sequential(
            [
                keras.Input((N_MELS, FRAMES)),
                keras.layers.Flatten(),
                keras.layers.Dense(3, activation="softmax"),
            ]
        )
        model.compile("adam", "categorical_crossentropy")
        history = model.fit(
            remote, epochs=2, steps_per_epoch=3, shuffle=False, verbose=0
        )
        self.assertEqual(len(history.history["loss"]), 2)
        self.assertTrue(np.all(np.isfinite(history.history["loss"])))
        # Both workers were given a task of the job (which one produced a
        # batch is not visible to the consumer).
        self.assertTrue(all(w._num_tasks() >= 1 for w in self.workers))

    def whole_tracks(self):
        # Whole tracks, unbatched, one pass: lengths identify tracks.
        return self.read(task=None, seed=0).map(lambda x: tf.shape(x)[0])

    def test_each_record_is_read_once_per_epoch(self):
        local = collections.Counter(int(n) for n in self.whole_tracks())
        self.assertEqual(len(local), TRACKS)
        remote = through_data_service(
            self.whole_tracks(), self.address, job_name="once"
        )
        self.assertEqual(collections.Counter(int(n) for n in remote), local)
        # Why not "parallel_epochs": with two workers each runs the whole
        # pipeline, and every track arrives twice.
        parallel = self.whole_tracks().apply(
            tf.data.experimental.service.distribute(
                "parallel_epochs", self.address
            )
        )
        twice = collections.Counter(int(n) for n in parallel)
        self.assertEqual(twice, {n: 2 for n in local})

    def test_repeated_pipeline_keeps_records_apart(self):
        # Non-balanced training pipeline through the service: 6 epochs of
        # 3 batches of distinct crops; every batch differs, as locally.
        remote = through_data_service(
            self.training_pipeline(balanced=False).map(lambda x, y: x),
            self.address,
        )
        sums = [float(tf.reduce_sum(x)) for x in remote.take(18)]
        self.assertEqual(len(set(np.round(sums, 3))), 18)

    def balanced_crops(self, **kwargs):
        """Unbatched random crops of balanced epochs of 8 draws."""
        dataset = self.read(
            segment_seconds=0.1,
            task="genre",
            seed=0,
            balanced=True,
            num_samples=8,
            **kwargs,
        )
        return dataset.map(lambda x, y: x)

    def test_each_balanced_epoch_is_read_by_one_worker(self):
        def crops(dataset, epochs):
            return collections.Counter(
                x.numpy().tobytes() for x in dataset.take(8 * epochs)
            )

        # Workers run a few epochs ahead of the consumer: 200 local
        # epochs cover all that 4 consumed epochs can come from.
        local = crops(self.balanced_crops(repeat=True), 200)
        remote = through_data_service(
            self.balanced_crops(repeat=True), self.address
        )
        # An epoch's draw and crops depend on the seed and its number
        # only: every crop the two workers send is one of the first
        # epochs', and none comes more often than there (two workers
        # sending the same epoch would double its crops).
        self.assertEqual(crops(remote, 4) - local, collections.Counter())

    def test_address_errors(self):
        dataset = tf.data.Dataset.range(3)
        for address in (
            "localhost:5050",
            "grpc://localhost",
            "http://localhost:5050",
            "grpc://localhost:50x",
            "grpc://:5050",
            "",
            5050,
            None,
        ):
            with pytest.raises(ValueError, match="`address` must be"):
                through_data_service(dataset, address)
        with pytest.raises(ValueError, match="`job_name` must be"):
            through_data_service(dataset, self.address, job_name="")
        with pytest.raises(ValueError, match="`dataset` must be"):
            through_data_service([1, 2], self.address)
        with pytest.raises(ValueError, match="`port` must be in"):
            start_dispatcher(port=70000)
        with pytest.raises(ValueError, match="`port` must be an int"):
            start_worker("localhost:5050", port="5051")
        with pytest.raises(ValueError, match="`dispatcher_address` must"):
            start_worker("localhost")


def test_a_dead_dispatcher_fails_within_seconds_naming_it():
    (port,) = free_ports(1)  # nothing listens there
    address = f"grpc://127.0.0.1:{port}"
    started = time.time()
    # gRPC alone retries forever: training, or the worker's registration,
    # would hang.
    with pytest.raises(ValueError, match=rf"No tf.data .* at {address}"):
        through_data_service(tf.data.Dataset.range(3), address)
    with pytest.raises(ValueError, match=r"`dispatcher_address`"):
        start_worker(f"127.0.0.1:{port}", port=0)
    assert time.time() - started < 15


def test_script_serves_a_dispatcher_and_a_worker():
    # recipes/data_service.py as the docstring runs it, on free ports.
    script = os.path.join(ROOT, "recipes", "data_service.py")
    dispatcher = subprocess.Popen(
        [sys.executable, script, "--role=dispatcher", "--port=0"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    worker = None
    try:
        line = dispatcher.stdout.readline()
        assert line.startswith("dispatcher serving on grpc://"), line
        port = port_of(line.strip())
        worker = subprocess.Popen(
            [
                sys.executable,
                script,
                "--role=worker",
                f"--dispatcher_address=127.0.0.1:{port}",
                "--port=0",
            ],
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout.readline().startswith("worker on port")
        faulthandler.dump_traceback_later(DEADLINE_SECONDS, exit=True)
        remote = through_data_service(
            tf.data.Dataset.range(10).map(lambda i: i * i),
            f"grpc://127.0.0.1:{port}",
        )
        assert sorted(int(x) for x in remote) == [i * i for i in range(10)]
        faulthandler.cancel_dump_traceback_later()
        # Both serve until killed.
        assert dispatcher.poll() is None and worker.poll() is None
    finally:
        for proc in (worker, dispatcher):
            if proc is not None:
                proc.kill()
                proc.wait(timeout=30)


@pytest.mark.large
def test_maest_recipe_trains_through_the_service(tmp_path):
    # The recipe with tests/recipes/maest_test.py's tiny flags, its
    # training pipeline on a dispatcher and two workers of this process.
    cache = str(tmp_path / "corpus")
    build_tune_corpus(
        num_clips=32, clip_seconds=5.0, cache_dir=cache, progress=False
    )
    dispatcher = start_dispatcher(port=0)
    port = port_of(dispatcher.target)
    workers = [start_worker(f"127.0.0.1:{port}") for _ in range(2)]
    output = str(tmp_path / "run")
    try:
        proc = run_recipe(
            recipe_command(
                "maest",
                "--segment=5",
                "--preset=maest_tiny",
                "--patchout_time=10",
                "--corpus_clips=32",
                "--corpus_seconds=5",
                f"--cache_dir={cache}",
                f"--output={output}",
                "--batch_size=4",
                "--steps_per_epoch=2",
                "--epochs=1",
                "--verbose=2",
                "--export=",
                f"--data_service_address=grpc://127.0.0.1:{port}",
            )
        )
        tasks = [worker._num_tasks() for worker in workers]
    finally:
        for worker in workers:
            worker.stop()
        dispatcher.stop()
    assert "ROC-AUC" in proc.stdout
    assert os.path.exists(os.path.join(output, "results.json"))
    # The service ran the training job on both workers.
    assert min(tasks) >= 1, tasks
