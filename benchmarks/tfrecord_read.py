"""Read throughput of keras_music TFRecords: 30 s clips at 16 kHz.

```
python benchmarks/tfrecord_read.py [--num_clips 128] [--audio_format int16]
```

Writes `num_clips` clips of white noise into a temporary folder (8 shards),
then times full passes of `tfrecord_dataset` (random 30 s crops, batches
of 32, shuffled) and prints clips per second and MB per second of stored
data. The first pass (cold start, graph tracing) is reported separately.
"""

import os
import sys
import tempfile
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from keras_music.data.tfrecord_dataset import tfrecord_dataset  # noqa: E402
from keras_music.data.tfrecord_writer import write_tfrecords  # noqa: E402
from keras_music.data.track import Track  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_clips", 128, "Clips written and read per pass.")
flags.DEFINE_enum("audio_format", "int16", ["int16", "float16"], "Storage.")
flags.DEFINE_integer("passes", 3, "Timed passes after the first.")

SAMPLE_RATE = 16000
SECONDS = 30


def noise_track(index):
    rng = np.random.default_rng(index)
    audio = rng.uniform(-0.5, 0.5, SAMPLE_RATE * SECONDS).astype("float32")
    return Track(f"clip{index}", audio, SAMPLE_RATE, {"tag": ["noise"]})


def main(_):
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        manifest = write_tfrecords(
            list(range(FLAGS.num_clips)),
            noise_track,
            directory,
            tasks={"tag": {"vocabulary": ["noise"], "multi_label": True}},
            sample_rate=SAMPLE_RATE,
            num_shards=8,
            audio_format=FLAGS.audio_format,
            progress=False,
        )
        written = time.perf_counter() - start
        size = sum(
            os.path.getsize(os.path.join(directory, s["file"]))
            for s in manifest["shards"]
        )
        print(
            f"wrote {FLAGS.num_clips} clips ({size / 1e6:.0f} MB) in "
            f"{written:.1f} s: {FLAGS.num_clips / written:.1f} clips/s"
        )
        dataset = tfrecord_dataset(
            directory,
            segment_seconds=SECONDS,
            task="tag",
            batch_size=32,
            seed=0,
        )
        timings = []
        for _ in range(1 + FLAGS.passes):
            start = time.perf_counter()
            clips = sum(int(x.shape[0]) for x, _ in dataset)
            timings.append(time.perf_counter() - start)
        if clips != FLAGS.num_clips:
            raise RuntimeError(f"Read {clips} of {FLAGS.num_clips} clips.")
        steady = float(np.median(timings[1:]))
        print(f"cores: {os.cpu_count()}, format: {FLAGS.audio_format}")
        print(f"first pass: {clips / timings[0]:.0f} clips/s")
        print(
            f"read (median of {FLAGS.passes}): {clips / steady:.0f} clips/s, "
            f"{size / steady / 1e6:.0f} MB/s"
        )


if __name__ == "__main__":
    app.run(main)
