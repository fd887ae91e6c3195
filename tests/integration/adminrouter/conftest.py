"""The `env` fixture lives in ar_env.py, with the helpers the tests import by that unique name."""

from ar_env import env

__all__ = ["env"]
