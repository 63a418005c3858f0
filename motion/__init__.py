"""The motion core: the one data model, skeletons, readers and writers, rig recognition and the
canonical skeleton, windows and features.

The lowest layer of dancesearch: pure NumPy (matplotlib only for renders), importing nothing else of
the project, so that the database, the bulk indexer, the models and the services all build on it.
Readers parse publishers' formats into :class:`motion.data.Motion`; :mod:`motion.canonical` maps any
recognised rig onto the canonical skeleton of :mod:`motion.skeleton`; :mod:`motion.windows` cuts
canonical motion into model inputs.
"""
