"""Work stock nbgrader repeats for every notebook, done once per process instead.

nbgrader opens the gradebook many times per notebook, and each ``Gradebook(...)``
creates a new SQLAlchemy engine, which throws away SQLAlchemy's cache of compiled
SQL: most of nbgrader's own time per notebook goes into compiling the same queries
again. Sharing one engine per database URL keeps that cache; the queries, and so the
gradebook's contents, are unchanged.
"""
import functools

import nbgrader.api
import sqlalchemy

_original_create_engine = sqlalchemy.create_engine


@functools.lru_cache(maxsize=None)
def _shared_engine(url: str, **kwargs):
    return _original_create_engine(url, **kwargs)


def create_engine(url, **kwargs):
    return _shared_engine(str(url), **kwargs)


def install() -> None:
    """Make nbgrader's Gradebook share one engine per database URL in this process."""
    nbgrader.api.create_engine = create_engine
