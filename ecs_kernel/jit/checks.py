"""Input checks shared by the public kernel wrappers (plain Python: they run before a kernel)."""
from __future__ import annotations

import numpy as np


def check_vec(name, a, dtypes, length=None, writeable=False, what="one per task row"):
    """Raise ValueError unless ``a`` is a 1-D numpy array of one of ``dtypes`` (and ``length``)."""
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype not in dtypes:
        want = " or ".join(str(d) for d in dtypes)
        raise ValueError(f"{name} must have dtype {want}, got {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if length is not None and a.shape[0] != length:
        raise ValueError(f"{name} must have length {length} ({what}), got {a.shape[0]}")
    if writeable and not a.flags.writeable:
        raise ValueError(f"{name} must be writeable")
