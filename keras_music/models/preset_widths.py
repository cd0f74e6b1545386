"""Narrowed copies of a preset: the CPU demo sizes of the model families.

`narrowed_widths` divides the filter counts of one preset of a family's
table by a divisor (at least 4 filters each) and returns them as
`from_preset` overrides; `ResNet` and `SampleCNN` name their own width
arguments and divisor (`cpu_demo_overrides` of their presets modules).
"""

MIN_FILTERS = 4


def narrowed_widths(presets, name, divisor, widths=(), width_tuples=()):
    """The widths of preset `name` of `presets` divided by `divisor`.

    Args:
        presets: dict. A family's table, preset name -> constructor
            arguments.
        name: str. The preset.
        divisor: int. What each filter count is divided by (floor, at
            least `MIN_FILTERS`).
        widths: names of single filter counts (one left `None` in the
            preset is left out of the overrides).
        width_tuples: names of sequences of filter counts, returned as
            tuples.

    Returns:
        dict of the narrowed arguments, to pass to `from_preset`.

    Example:

    >>> narrowed_widths({"a": {"stem": 64, "blocks": (64, 128)}}, "a", 8,
    ...                 widths=("stem",), width_tuples=("blocks",))
    {'stem': 8, 'blocks': (8, 16)}
    """
    if name not in presets:
        raise ValueError(
            f"`name` must be one of {sorted(presets)}. Received: name={name!r}"
        )
    config = presets[name]

    def narrow(filters):
        return max(MIN_FILTERS, filters // divisor)

    overrides = {
        key: narrow(config[key]) for key in widths if config[key] is not None
    }
    for key in width_tuples:
        overrides[key] = tuple(narrow(f) for f in config[key])
    return overrides
