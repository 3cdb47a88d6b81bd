"""Margin Matching Preference Optimization: soft-labelled preference data and training.

The library contains every step of the pipeline as importable functions; the
``pipeline`` package wraps them as DVC stages and the ``mmpo`` command line.
Importing it does no I/O.
"""

__version__ = "0.1.0"
