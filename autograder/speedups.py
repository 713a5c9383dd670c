"""Work stock nbgrader repeats for every notebook, done once per process instead.

Each change keeps nbgrader's behaviour and the gradebook's contents exactly as they
are; it only stops recomputing the same thing:

- nbgrader opens the gradebook several times per notebook, and each ``Gradebook(...)``
  creates a new SQLAlchemy engine, which throws away SQLAlchemy's cache of compiled SQL.
  One engine per database URL keeps that cache.
- each ``Gradebook(...)`` also asks the database for its table list and runs
  ``create_all`` (one query per table). Once this process has created or found the
  tables of an engine, it does not ask again.
- nbgrader checks every cell's metadata with ``jsonschema.validate``, which first checks
  the schema itself against the JSON-Schema meta-schema, for every cell of every notebook.
  A validator is built once per schema; a cell's errors are the same.
"""

import functools

import jsonschema
import nbgrader.api
import nbgrader.nbgraderformat.common
import sqlalchemy

_original_create_engine = sqlalchemy.create_engine
_original_create_all = nbgrader.api.Base.metadata.create_all
_original_inspect = nbgrader.api.inspect
_ready_engines: set = set()


@functools.lru_cache(maxsize=None)
def _shared_engine(url: str, **kwargs):
    return _original_create_engine(url, **kwargs)


def create_engine(url, **kwargs):
    return _shared_engine(str(url), **kwargs)


def _create_all(bind=None, **kwargs):
    if bind is not None and bind in _ready_engines:
        return
    _original_create_all(bind=bind, **kwargs)
    if bind is not None:
        _ready_engines.add(bind)


class _KnownTables:
    """What ``inspect(engine)`` answers for an engine whose tables this process has made sure of."""

    def get_table_names(self):
        return list(nbgrader.api.Base.metadata.tables)


def _inspect(subject, *args, **kwargs):
    if subject in _ready_engines:
        return _KnownTables()
    return _original_inspect(subject, *args, **kwargs)


class _CachedJsonschema:
    """The one function of ``jsonschema`` that nbgrader's metadata validation calls."""

    def __init__(self):
        self._validators: list = []  # (schema, validator): a handful at most

    def _validator(self, schema):
        for known, validator in self._validators:
            if known is schema or known == schema:
                return validator
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        validator = cls(schema)
        self._validators.append((schema, validator))
        return validator

    def validate(self, instance, schema):
        # what jsonschema.validate does after checking the schema
        error = jsonschema.exceptions.best_match(self._validator(schema).iter_errors(instance))
        if error is not None:
            raise error


def install() -> None:
    """Apply the changes above in this process (idempotent)."""
    nbgrader.api.create_engine = create_engine
    nbgrader.api.inspect = _inspect
    nbgrader.api.Base.metadata.create_all = _create_all
    nbgrader.nbgraderformat.common.jsonschema = _CachedJsonschema()
