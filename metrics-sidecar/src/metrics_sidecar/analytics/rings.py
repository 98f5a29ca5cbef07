"""The float arrays the read side works on (numpy over copies from the core)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
