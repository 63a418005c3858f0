"""Bulk indexing of motion archives into the library.

Walks files and folders, reads sidecar metadata, canonicalises every motion file in a process pool
(:mod:`motion`) and commits clips and windows to :mod:`db`, recording every file that fails with
its reason. Sits above :mod:`motion` and :mod:`db`; nothing below imports it.
"""
