"""Reading motion archives and turning them into one canonical skeleton.

Lowest layer of dancesearch: pure NumPy, no database, no torch. Readers parse publishers' formats
into :class:`indexer.motion.Motion`; :mod:`indexer.canonical` maps any known rig onto the canonical
skeleton of :mod:`indexer.skeleton`; :mod:`indexer.windows` cuts canonical motion into model inputs.
The bulk ingest pipeline (:mod:`indexer.ingest`) sits on top of these and of :mod:`db`.
"""
