"""Hypothesis profiles: `ci` (quick, the default) and `thorough` (2,000 examples per property).

Choose one with `--hypothesis-profile=thorough` (the hypothesis pytest plugin) or the
HYPOTHESIS_PROFILE environment variable.
"""

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))  # tests/opcases.py and tests/strategies.py

# Graph building and compiling dominate an example's time, so no per-example deadline.
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.register_profile("ci", max_examples=100, **_COMMON)
settings.register_profile("thorough", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
