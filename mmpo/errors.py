"""Errors raised for unusable input."""


class InputError(ValueError):
    """The input cannot be read at all (missing file, unknown format, wrong layout)."""
