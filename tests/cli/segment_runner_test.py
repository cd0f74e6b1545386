"""`SegmentRunner`: segments read ahead in a thread come out in file order,
the same as a plain loop over the files; errors of either side stop the
run, and no reading thread is left behind."""

import threading

import numpy as np
import pytest
import soundfile

from keras_music.cli import segment_runner
from keras_music.cli.segment_runner import SegmentRunner


def write_files(tmp_path, lengths):
    paths = []
    rng = np.random.default_rng(0)
    for i, length in enumerate(lengths):
        path = str(tmp_path / f"clip_{i}.wav")
        soundfile.write(path, rng.uniform(-1, 1, length), 1000, "FLOAT")
        paths.append(path)
    return paths


def readers():
    return [t for t in threading.enumerate() if t.name == "segment-reader"]


def test_outputs_equal_the_segments_of_each_file(tmp_path):
    # Many short files and a long one through a queue one batch deep:
    # every file's outputs are its own segments, in order.
    lengths = [2500, 500, 1000, 7300, *[1200] * 20]
    paths = write_files(tmp_path, lengths)
    runner = SegmentRunner(lambda batch: batch.copy(), 1000, 1000, 1000, 3)
    done = {}
    failed = runner.run(paths, lambda i, out, spans: done.update({i: out}))
    assert failed == [] and sorted(done) == list(range(len(paths)))
    for index, path in enumerate(paths):
        audio = soundfile.read(path, dtype="float32")[0]
        starts = list(range(0, len(audio) - 1000 + 1, 1000))
        if len(audio) < 1000:
            expected = audio[None]
        else:
            if starts[-1] + 1000 < len(audio):
                starts.append(len(audio) - 1000)
            expected = np.stack([audio[s : s + 1000] for s in starts])
        # Samples copied through unchanged: exact.
        np.testing.assert_array_equal(done[index], expected)
    assert readers() == []


def test_an_error_while_reading_is_raised_and_stops_the_thread(
    tmp_path, monkeypatch
):
    paths = write_files(tmp_path, [3000] * 4)
    real = segment_runner.read_mono

    def read_mono(path, rate):
        if path == paths[2]:
            raise MemoryError(f"no memory for {path}")
        return real(path, rate)

    monkeypatch.setattr(segment_runner, "read_mono", read_mono)
    runner = SegmentRunner(lambda batch: batch[:, :1], 1000, 1000, 1000, 2)
    with pytest.raises(MemoryError, match="clip_2.wav"):
        runner.run(paths, lambda *_: None)
    assert readers() == []


def test_an_error_of_the_model_stops_the_reading_thread(tmp_path):
    paths = write_files(tmp_path, [5000] * 30)

    def predict(batch):
        raise KeyboardInterrupt

    runner = SegmentRunner(predict, 1000, 1000, 1000, 2)
    with pytest.raises(KeyboardInterrupt):
        runner.run(paths, lambda *_: None)
    assert readers() == []
