"""The fastfit version (also in pyproject.toml); a module of its own so that recording it
(e.g. in a store) does not import the package root."""
__version__ = "0.1.0"
