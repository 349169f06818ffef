"""Callbacks that watch a model where people train it: Lightning and Hugging Face ``Trainer``.

- :mod:`sentrycam.integrations.lightning`: ``SentrycamCallback`` for ``lightning.Trainer``
  (``pip install sentrycam[lightning]``);
- :mod:`sentrycam.integrations.transformers`: ``SentrycamCallback`` for ``transformers.Trainer``
  (``pip install sentrycam[transformers]``).

Both take ``SentrycamCallback(layers=..., probe=(x, y), every=50, stop_on=None, **monitor_kwargs)``
and expose ``.monitor`` (a :class:`sentrycam.Monitor`, displayable before training starts).
Importing this package imports neither framework; each submodule imports its own.
"""
