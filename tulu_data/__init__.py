"""tulu-data: a declarative catalog and build tool for LLM post-training data."""

__version__ = "0.1.0"
