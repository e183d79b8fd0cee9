"""The top floor: the ``connectome`` command and the notebook client.

>>> from connectome import Client
"""

from connectome.client import Client

__all__ = ["Client"]
