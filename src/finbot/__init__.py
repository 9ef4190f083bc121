"""FinBot: vendor payments run by AI agents that are never trusted with money."""

__version__ = "0.1.0"
