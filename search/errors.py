"""Domain errors of the search layer; the HTTP service maps them to status codes in one place."""

from __future__ import annotations


class SearchError(Exception):
    """Base class of errors a caller can act on; the message is meant for the user."""


class NotFound(SearchError):
    """A clip, generated motion or description id that does not exist."""


class InvalidQuery(SearchError):
    """A query the engine cannot answer as asked: empty text, time range outside the clip, bad k."""


class UnmappableMotion(InvalidQuery):
    """A query motion whose skeleton cannot be mapped onto the canonical one (its caller names the file)."""


class ModelMissing(SearchError):
    """No trained model directory where one was expected."""
