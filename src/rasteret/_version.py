"""The package version, kept apart so internal modules never import the package root."""

__version__ = "0.1.0"
