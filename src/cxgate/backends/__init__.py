"""Storage backends, chosen by URL (see `url.py`) and hidden behind the protocols of `base.py`."""
