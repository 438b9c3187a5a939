"""ORM objects made from rows read without the ORM, as its own loading makes them.

Loading an object through the ORM costs several times the read itself. Where a request reads
plain columns (from the client cache, on the thread's own connection, or as an INSERT's values)
and then needs the object, :func:`loaded` gives it the state the ORM's loading would: in the
session's identity map, its columns loaded and without history (a change is flushed as an
UPDATE, a commit expires it), the columns not given expired (they load when first read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from idp.db import db

T = TypeVar("T")


def loaded(model: type[T], row: Mapping[str, Any]) -> T:
    """The request session's ``model`` object for ``row`` (its primary key ``id`` included):
    the one the session holds already, or a new instance whose ``__dict__`` takes the values,
    without the constructor's per-attribute events (their history would be reset at once)."""
    session = db.session
    existing = session.identity_map.get(identity_key(model, row["id"]))
    if existing is not None:
        return existing
    instance = model.__mapper__.class_manager.new_instance()
    instance.__dict__.update(row)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance
