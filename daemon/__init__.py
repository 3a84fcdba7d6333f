"""inquiryd: an export sales desk's email, read, graded, drafted for review and sent."""

__version__ = "0.1.0"
