"""Records in: TFRecord folders that changed after they were written, and
writer inputs that cannot reach worker processes.

Every case asserts the exception type and that the message names the
file (or argument) and what was expected.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.data.track import Track
from tests.data.tfrecord_writer_test import ROOT
from tests.data.tfrecord_writer_test import SAMPLE_RATE
from tests.data.tfrecord_writer_test import TASKS
from tests.data.tfrecord_writer_test import write
from tests.test_case import TestCase

GENRES = TASKS["genre"]["vocabulary"]


def labelled_track(item):
    """`("t<i>", genre)` -> a Track with that genre (module level)."""
    name, genre = item
    index = int(name[1:])
    audio = np.random.default_rng(index).uniform(-0.5, 0.5, 400)
    delay = float(os.environ.get("BAD_RECORDS_DELAY", "0"))
    if delay and index >= 6:
        time.sleep(delay)  # the kill test's writer is slow past shard 0
    return Track(name, audio.astype("float32"), SAMPLE_RATE, {"genre": [genre]})


def labelled_items(count, genre):
    return [(f"t{i}", genre) for i in range(count)]


def write_labelled(output_dir, count, genre, **kwargs):
    return write_tfrecords(
        labelled_items(count, genre),
        labelled_track,
        output_dir,
        tasks={"genre": TASKS["genre"]},
        sample_rate=SAMPLE_RATE,
        num_shards=kwargs.pop("num_shards", 4),
        progress=False,
        **kwargs,
    )


def genres_read(directory):
    dataset = tfrecord_dataset(directory, task="genre", mode="center")
    return sorted(GENRES[int(y)] for _, y in dataset)


def edit_json(path, edit):
    with open(path) as stream:
        value = json.load(stream)
    edit(value)
    with open(path, "w") as stream:
        json.dump(value, stream)


class ChangedFolderTest(TestCase):
    def setUp(self):
        super().setUp()
        self.directory = self.get_temp_dir()
        self.manifest = write(self.directory, count=6, num_shards=3)
        self.shards = [s["file"] for s in self.manifest["shards"]]

    def path(self, name):
        return os.path.join(self.directory, name)

    def test_deleted_shard_fails_fast_naming_it(self):
        os.remove(self.path(self.shards[1]))
        # In a child process with a deadline: a regression hangs, and a
        # hung tf.data iterator cannot be stopped from its own process.
        script = (
            "from keras_music.data.tfrecord_dataset import tfrecord_dataset\n"
            f"for x in tfrecord_dataset({self.directory!r}, task='genre'):\n"
            "    pass\n"
        )
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONPATH": ROOT},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertLess(time.monotonic() - started, 30)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("ValueError", result.stderr)
        self.assertIn(f"{self.shards[1]}, which does not exist", result.stderr)

    def test_deleted_shard_in_process(self):
        os.remove(self.path(self.shards[2]))
        with pytest.raises(ValueError, match=rf"{self.shards[2]}, which does"):
            tfrecord_dataset(self.directory)

    def test_deleted_index_through_a_glob(self):
        index = self.shards[1].replace(".tfrecord", ".index.json")
        os.remove(self.path(index))
        with pytest.raises(ValueError, match=rf"{index}, which does not"):
            tfrecord_dataset(self.path("shard-0000[01]-*.tfrecord"))

    def test_deleted_index_names_it(self):
        index = self.shards[0].replace(".tfrecord", ".index.json")
        os.remove(self.path(index))
        with pytest.raises(ValueError, match=rf"{index}, which does not"):
            tfrecord_dataset(self.directory)

    def test_truncated_shard_is_refused_by_size(self):
        path = self.path(self.shards[1])
        size = os.path.getsize(path)
        with open(path, "r+b") as stream:
            stream.truncate(size - 10)
        with pytest.raises(
            ValueError,
            match=rf"{self.shards[1]} does not match .*manifest.json: it has "
            rf"{size - 10} bytes, the manifest expects {size} bytes",
        ):
            tfrecord_dataset(self.directory)

    def test_swapped_shard_is_refused(self):
        shutil.copy(self.path(self.shards[0]), self.path(self.shards[1]))
        with pytest.raises(ValueError, match=rf"{self.shards[1]} does not"):
            tfrecord_dataset(self.directory)

    def test_stale_shard_of_the_same_size_is_refused_by_sha256(self):
        # A relabelled track changes a label byte, not the size.
        path = self.path(self.shards[2])
        content = bytearray(open(path, "rb").read())
        content[-20] ^= 0x01
        open(path, "wb").write(content)
        with pytest.raises(
            ValueError,
            match=rf"(?s){self.shards[2]} does not match.*sha256 [0-9a-f]{{64}}"
            r", the manifest expects sha256",
        ):
            tfrecord_dataset(self.directory, task="genre")

    def test_manifest_without_sizes_still_checks_sha256(self):
        # Folders written before sizes were recorded.
        def drop_sizes(manifest):
            for shard in manifest["shards"]:
                del shard["size"]

        edit_json(self.path("manifest.json"), drop_sizes)
        self.assertEqual(len(list(tfrecord_dataset(self.directory))), 6)
        with open(self.path(self.shards[0]), "ab") as stream:
            stream.write(b"\0")
        with pytest.raises(ValueError, match=rf"{self.shards[0]} .*sha256"):
            tfrecord_dataset(self.directory)

    def test_stale_index_is_refused(self):
        index = self.shards[1].replace(".tfrecord", ".index.json")

        def stale(value):
            value["num_examples"] += 1

        edit_json(self.path(index), stale)
        with pytest.raises(
            ValueError,
            match=rf"{index} does not match .*num_examples is 3, the manifest "
            "expects 2",
        ):
            tfrecord_dataset(self.directory)

    def test_label_index_beyond_the_vocabulary(self):
        index = self.shards[0].replace(".tfrecord", ".index.json")

        def beyond(value):
            value["tracks"][1]["labels"]["genre"] = [3]

        edit_json(self.path(index), beyond)
        with pytest.raises(
            ValueError,
            match=r"Track 't1' .* label indices \[3\] for task 'genre', "
            r"outside its vocabulary of size 3 \(expected 0 to 2\)",
        ):
            tfrecord_dataset(self.directory, task="genre", one_hot=True)

    def test_negative_label_index(self):
        index = self.shards[2].replace(".tfrecord", ".index.json")

        def negative(value):
            value["tracks"][0]["labels"]["tags"] = [-1]

        edit_json(self.path(index), negative)
        with pytest.raises(ValueError, match=r"Track 't4' .*\[-1\].*'tags'"):
            tfrecord_dataset(self.directory, task="tags")


def unpicklable_load(item):
    return item


def failing_load(item):
    """Raises in the worker process (not an AudioDecodeError: not skipped)."""
    raise RuntimeError(f"load_fn failed on {item}")


class UnpicklableTest(TestCase):
    def test_unpicklable_load_fn_raises_promptly_ten_times(self):
        started = time.monotonic()
        for _ in range(10):
            with pytest.raises(
                ValueError,
                match=r"`load_fn` must be picklable when `num_workers > 1`"
                r".*Received: load_fn=<function",
            ):
                write(
                    self.get_temp_dir(),
                    load_fn=lambda item: item,
                    num_workers=2,
                )
        self.assertLess(time.monotonic() - started, 30)

    def test_unpicklable_items(self):
        with pytest.raises(
            ValueError, match=r"`items` must be picklable.*Received: items="
        ):
            write_tfrecords(
                [lambda: None],
                unpicklable_load,
                self.get_temp_dir(),
                tasks=TASKS,
                sample_rate=SAMPLE_RATE,
                num_workers=2,
                progress=False,
            )

    def test_unpicklable_targets(self):
        with pytest.raises(ValueError, match=r"`targets` must be picklable"):
            write(
                self.get_temp_dir(),
                targets=lambda audio: {"rms": np.zeros((len(audio) // 80, 1))},
                num_workers=2,
            )

    @pytest.mark.large
    def test_failing_worker_stops_the_pool_promptly(self):
        # Spawned workers import TensorFlow (~10 s each time): large.
        started = time.monotonic()
        for _ in range(3):
            with pytest.raises(RuntimeError, match=r"load_fn failed on t0"):
                write(self.get_temp_dir(), load_fn=failing_load, num_workers=2)
        self.assertLess(time.monotonic() - started, 180)

    def test_empty_items(self):
        output_dir = self.get_temp_dir()
        with pytest.raises(
            ValueError, match=rf"`items` is empty.*{output_dir}.*items=\[\]"
        ):
            write_tfrecords(
                [], unpicklable_load, output_dir, tasks=TASKS, sample_rate=8000
            )


class RewriteTest(TestCase):
    def test_rewrite_swaps_the_folder_in_whole(self):
        output_dir = os.path.join(self.get_temp_dir(), "data")
        write_labelled(output_dir, 8, "jazz")
        write_labelled(output_dir, 8, "rock")
        self.assertEqual(genres_read(output_dir), ["rock"] * 8)
        parent = os.path.dirname(output_dir)
        self.assertEqual(os.listdir(parent), ["data"])

    def test_abandoned_rewrite_is_removed(self):
        parent = self.get_temp_dir()
        output_dir = os.path.join(parent, "data")
        old = write_labelled(output_dir, 8, "jazz")
        # A relabel to rock killed half-way, then the old labels written
        # again: the folder is kept and the leftover rewrite removed.
        write_labelled(output_dir + ".rewrite", 8, "rock")
        self.assertEqual(write_labelled(output_dir, 8, "jazz"), old)
        self.assertEqual(os.listdir(parent), ["data"])
        self.assertEqual(genres_read(output_dir), ["jazz"] * 8)

    def test_swap_interrupted_between_renames_is_completed(self):
        parent = self.get_temp_dir()
        output_dir = os.path.join(parent, "data")
        write_labelled(os.path.join(parent, "data.previous"), 8, "jazz")
        clean = write_labelled(os.path.join(parent, "data.rewrite"), 8, "rock")
        # Killed after the old folder moved away, before the new one moved
        # in: no folder to read, and the reader says so.
        with pytest.raises(ValueError, match="matches no directory"):
            tfrecord_dataset(output_dir)
        self.assertEqual(write_labelled(output_dir, 8, "rock"), clean)
        self.assertEqual(genres_read(output_dir), ["rock"] * 8)
        self.assertEqual(os.listdir(parent), ["data"])

    @pytest.mark.large
    def test_killed_relabel_leaves_the_old_or_the_new_folder(self):
        parent = self.get_temp_dir()
        clean_dir = os.path.join(parent, "clean")
        clean = write_labelled(clean_dir, 12, "rock")
        output_dir = os.path.join(parent, "data")
        old = write_labelled(output_dir, 12, "jazz")
        aside = output_dir + ".rewrite"
        script = (
            "from tests.data import bad_records_test as t\n"
            f"t.write_labelled({output_dir!r}, 12, 'rock')\n"
        )
        env = {**os.environ, "PYTHONPATH": ROOT, "BAD_RECORDS_DELAY": "600"}
        process = subprocess.Popen(
            [sys.executable, "-c", script], env=env, cwd=ROOT
        )
        try:
            # Shard 0 (t0-t2) then t3-t5 are written aside; t6 sleeps.
            deadline = time.time() + 120
            while process.poll() is None and not os.path.exists(
                os.path.join(aside, "shard-00001-of-00004.index.json")
            ):
                self.assertLess(time.time(), deadline, "writer never started")
                time.sleep(0.05)
            self.assertIsNone(process.poll(), "writer died by itself")
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.wait()
        # Half-way: the folder is the old one, whole.
        self.assertEqual(genres_read(output_dir), ["jazz"] * 12)
        with open(os.path.join(output_dir, "manifest.json")) as stream:
            self.assertEqual(json.load(stream), json.loads(json.dumps(old)))
        # Re-running finishes the rewrite: the new folder, byte for byte.
        self.assertEqual(write_labelled(output_dir, 12, "rock"), clean)
        self.assertEqual(genres_read(output_dir), ["rock"] * 12)
        for shard in clean["shards"]:
            with open(os.path.join(clean_dir, shard["file"]), "rb") as a:
                with open(os.path.join(output_dir, shard["file"]), "rb") as b:
                    self.assertEqual(a.read(), b.read())
        self.assertEqual(sorted(os.listdir(parent)), ["clean", "data"])
