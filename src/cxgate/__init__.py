"""cxgate: an open server for the public APIs of Genesys Mobile Services 8.5."""

__version__ = "0.1.0"
