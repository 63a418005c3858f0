"""The HTTP service of dancesearch: a FastAPI app over the SearchEngine protocol, plus the web page.

Build it with :func:`dancesearch.service.app.create_app`; run it with ``dancesearch serve``.
"""
