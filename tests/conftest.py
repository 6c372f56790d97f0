import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _raise_on_float_errors():
    """Silent NaNs and overflows become errors (underflow is normal in bump tails)."""
    old = np.seterr(all="raise", under="ignore")
    yield
    np.seterr(**old)
