"""Run a tf.data service dispatcher or worker for the training recipes.

Every training recipe takes `--data_service_address grpc://HOST:PORT`:
its training input pipeline (decoding, cropping, augmentation, batching)
then runs on the workers of a tf.data service instead of the trainer's
CPU. Start one dispatcher and any number of workers, each on the machine
that should do the work, and leave them running (they serve until
killed):

    python recipes/data_service.py --role dispatcher --port 5050
    python recipes/data_service.py --role worker \\
        --dispatcher_address localhost:5050 --port 5051
    python recipes/data_service.py --role worker \\
        --dispatcher_address localhost:5050 --port 5052

then train with, for example:

    python recipes/maest.py --data_service_address grpc://localhost:5050

Each prints one line, e.g. `dispatcher serving on grpc://localhost:5050`
or `worker on port 5051, dispatcher localhost:5050`. Workers on other
machines pass the dispatcher's host name instead of localhost and must
reach the trainer's TFRecord folders under the same paths (a shared
filesystem or the same copy). See `keras_music.data.data_service` for
how the service splits the work among the workers.
"""

# First: keras_music imports TensorFlow quietly (KERAS_MUSIC_VERBOSE=1
# shows its logging).
from keras_music import quiet as _quiet  # noqa: F401

# isort: split
import flag_checks
from absl import app
from absl import flags

import keras_music  # noqa: F401  (sets the Keras backend)
from keras_music.data.data_service import start_dispatcher
from keras_music.data.data_service import start_worker

flags.DEFINE_enum("role", None, ["dispatcher", "worker"], "Server to run.")
flags.DEFINE_integer("port", 5050, "Port to listen on (0: any free port).")
flags.DEFINE_string(
    "dispatcher_address",
    None,
    "The dispatcher as HOST:PORT (workers only).",
)
flags.mark_flag_as_required("role")
flags.register_validator(
    "dispatcher_address",
    lambda address: address is None or ":" in address,
    "--dispatcher_address must be HOST:PORT.",
)
flag_checks.non_negative("port")
FLAGS = flags.FLAGS


def main(_):
    if FLAGS.role == "dispatcher":
        server = start_dispatcher(FLAGS.port)
        print(f"dispatcher serving on {server.target}", flush=True)
    else:
        if FLAGS.dispatcher_address is None:
            raise app.UsageError("--role worker needs --dispatcher_address.")
        server = start_worker(FLAGS.dispatcher_address, FLAGS.port)
        print(
            f"worker on port {FLAGS.port}, dispatcher "
            f"{FLAGS.dispatcher_address}",
            flush=True,
        )
    server.join()


if __name__ == "__main__":
    app.run(main)
