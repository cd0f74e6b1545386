import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption(
        "--run_large",
        action="store_true",
        default=False,
        help="Also run tests marked `large` (full-size models, training).",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "large: full-size or slow test, run only with --run_large"
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run_large"):
        return
    skip_large = pytest.mark.skip(reason="large test: pass --run_large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip_large)
