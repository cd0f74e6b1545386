"""PASE presets: named sizes as plain dicts of backbone arguments.

`pase` and `pase_plus` are the encoders of Wu et al. (2021, Section 3.1),
the PASE (Pascual et al., 2019) and PASE+ (Ravanelli et al., 2020)
encoders with a 512-d embedding: SincConv 64 filters of 251 taps, then
Conv1D widths 64, 128, 128, 256, 256, 512, 512 (REFERENCE.md §3), and for
PASE+ a 512-unit QRNN. The paper gives ~6 M and ~8 M parameters (Section
4.1); our counts are in the backbones' docstrings.

`pase_tiny` and `pase_plus_tiny` are for tests: the same kernels and
strides (so the same 10 ms frame rate and minimum length), 8 sinc filters
of 31 taps, widths 8-16 and a 16-d embedding.
"""

_PAPER = {
    "sinc_filters": 64,
    "sinc_kernel_size": 251,
    "conv_filters": [64, 128, 128, 256, 256, 512, 512],
    "emb_dim": 512,
    "sample_rate": 16000,
}

_TINY = {
    "sinc_filters": 8,
    "sinc_kernel_size": 31,
    "conv_filters": [8, 8, 16, 16, 16, 16, 16],
    "emb_dim": 16,
    "sample_rate": 16000,
}

pase_presets = {
    "pase": dict(_PAPER),
    "pase_tiny": dict(_TINY),
}

pase_plus_presets = {
    "pase_plus": {**_PAPER, "qrnn_units": 512},
    "pase_plus_tiny": {**_TINY, "qrnn_units": 16},
}
