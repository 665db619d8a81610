"""Assent: a consent and subscription engine for marketing messages."""

__version__ = "0.1.0"
