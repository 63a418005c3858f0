"""The application layer of dancesearch: the ``dancesearch`` command, the HTTP service and web page,
and the benchmarks. Everything here calls down into :mod:`search`, :mod:`training`, :mod:`indexer`
and :mod:`db`; nothing below imports from here."""

__version__ = "0.1.0"
