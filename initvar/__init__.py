"""initvar: derive weight-initialization variance laws symbolically and verify them by simulation."""

__version__ = "0.1.0"
