"""Search: ANN indexes over the library, the Engine (text->motion, motion->motion, motion->text, generation fallback).

:mod:`search.ann` holds the nearest-neighbour index backends (exact NumPy oracle, FAISS flat/IVF/HNSW)
behind one interface and a factory.
"""
