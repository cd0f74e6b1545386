import pytest

from benchmarks.attention import main


def test_quick_run_times_every_kernel_and_matches_ours():
    rows = main(["--quick", "--chunk", "8"])
    kernels = {(r["setting"], r["dtype"], r["kernel"]) for r in rows}
    # ours, logit_scale, keras_dpa, chunk_8, chunk_auto; 2 x 2 settings.
    assert len(kernels) == len(rows) == 2 * 2 * 5
    for row in rows:
        assert row["ratio"] > 0
        # Every kernel computes the same attention: exact in float32 up to
        # summation order, bfloat16 within its 8-bit mantissa.
        bound = 1e-5 if row["dtype"] == "float32" else 5e-2
        assert row["max_abs_diff"] <= bound, row
    # The analytic attention share falls with inference patchout.
    share = {r["setting"]: r["attention_share"] for r in rows}
    assert share["T=10"] < share["none"] == pytest.approx(0.268, abs=0.01)
