"""The error every command reports as one line on stderr with exit status 2."""

from __future__ import annotations


class UsageError(Exception):
    """Bad usage or input: reported as one line on stderr, exit status 2."""
