"""``python -m wfr_cvx``: the ``wfr-cvx`` command line (see :mod:`wfr_cvx.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
