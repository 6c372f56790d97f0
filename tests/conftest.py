import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Property tests: a few derandomised examples in `make test`; `make test-all` sets
# HYPOTHESIS_PROFILE=thorough (200 examples per property, fresh random draws).
settings.register_profile("default", max_examples=6, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _raise_on_float_errors():
    """Silent NaNs and overflows become errors (underflow is normal in bump tails)."""
    old = np.seterr(all="raise", under="ignore")
    yield
    np.seterr(**old)
