"""saved_models/README.md's Python client runs as written.

The README's client block is executed against a stand-in for TF Serving's
REST endpoint on the loopback address (TF Serving itself is not installed
here): the stand-in records the request and answers with fixed
probabilities, so the test checks what the documented code does with
them, including tag names with spaces.
"""

import http.server
import json
import os
import re
import subprocess
import sys
import threading

import numpy as np
import soundfile
import soxr

from keras_music.export.model_card import model_card
from keras_music.export.model_card import tensor
from keras_music.export.model_card import write_model_card

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAGS = ["church organ", "nylon guitar", "cello", "bassoon", "harp", "flute"]
PROBABILITIES = [0.1, 0.3, 0.9, 0.8, 0.2, 0.05]


def _client_block():
    with open(os.path.join(ROOT, "saved_models", "README.md")) as f:
        readme = f.read()
    section = readme.split("### Python client", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


class _Serving(http.server.BaseHTTPRequestHandler):
    requests = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Serving.requests.append((self.path, json.loads(body)))
        answer = {"predictions": [{"probabilities": PROBABILITIES}]}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_python_client_names_the_tags_the_model_means(tmp_path):
    version = tmp_path / "saved_models" / "maest_30s_tagger" / "1"
    version.mkdir(parents=True)
    # The card an export writes (the same function), not a hand-made one.
    card = model_card(
        "maest_30s_tagger",
        "multi-label classifier",
        16000,
        inputs=[tensor("audio", ["batch_size", "samples"])],
        outputs=[tensor("probabilities", ["batch_size", 6], "predictions")],
        classes=TAGS,
    )
    write_model_card(version / "model_card.json", card)
    # At 32 kHz: the client resamples to the card's 16 kHz.
    stereo = np.random.default_rng(0).uniform(-0.5, 0.5, (3200, 2))
    soundfile.write(
        tmp_path / "track.wav", stereo.astype("float32"), 32000, "FLOAT"
    )

    server = http.server.HTTPServer(("127.0.0.1", 0), _Serving)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = _client_block()
        assert "localhost:8501" in code
        code = code.replace("localhost:8501", f"127.0.0.1:{server.server_port}")
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr
    top = sorted(zip(PROBABILITIES, TAGS), reverse=True)[:5]
    assert proc.stdout.strip() == str(top), proc.stdout
    path, body = _Serving.requests[-1]
    assert path == "/v1/models/maest_30s_tagger:predict", path
    (instance,) = body["instances"]
    assert instance["lengths"] == len(instance["audio"]) == 1600
    expected = soxr.resample(
        stereo.mean(axis=1).astype("float32"), 32000, 16000
    )
    np.testing.assert_allclose(instance["audio"], expected, atol=1e-6)
