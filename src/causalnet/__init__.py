"""causalnet: robust micro-expression recognition with CausalNet (ICCV 2025).

Sub-packages mirror the system:

- :mod:`causalnet.models`    CausalNet and baselines, built from typed configs through a registry.
- :mod:`causalnet.data`      loaders for the published composite benchmark (and other layouts).
- :mod:`causalnet.flow`      frames -> optical flow -> the four input images.
- :mod:`causalnet.keyframes` key-frame error models and apex spotting.
- :mod:`causalnet.train`     the model-agnostic training loop and the LOSO runner.
- :mod:`causalnet.eval`      metrics and reports.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
