"""Smoke mode: ``COURSE_SMOKE=1`` makes every chapter run top to bottom in about a minute on 2 CPU cores.

Chapters read :data:`SMOKE` and shrink what is expensive (epochs, data, input sizes,
benchmark repetitions); they always print which mode, data and device they used, so that
the stored outputs say honestly where each number came from.
"""

import os

SMOKE = os.environ.get("COURSE_SMOKE", "").strip().lower() not in ("", "0", "false", "no")


def pick(full, smoke):
    """``smoke`` in smoke mode, ``full`` otherwise."""
    return smoke if SMOKE else full
