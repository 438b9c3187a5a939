"""Ids for new rows of a serial column, taken from its own sequence in blocks (PostgreSQL).

A row whose id the request needs before anything else is written (the SSO session that the
code issued in the same answer refers to) would otherwise be written alone, ``INSERT ...
RETURNING id``, a round trip to the database only to learn its id. With its id known, the row
can be written with the request's other writes as one statement
(:func:`idp.db.together.hold`).

The ids come from the column's sequence itself, ``BLOCK`` at a time in one statement, so they
stay unique across every process and node, and rows written the usual way (the sequence's
default) never collide with them. A process's block is its own: ids are handed out in order
within a process, not across processes, and those a process never used (it ended, it forked)
are gaps, as a rolled-back insert leaves. Nothing orders rows by these ids.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from idp.db import direct

#: Ids taken from the sequence per statement.
BLOCK = 32

_LOCK = threading.Lock()
#: Per engine: {(table, column): (pid, ids not handed out yet)}.
_BLOCKS: weakref.WeakKeyDictionary[Engine, dict[tuple[str, str], tuple[int, deque[int]]]] = (
    weakref.WeakKeyDictionary())
_STATEMENTS: dict[tuple[str, str], object] = {}


def next_id(engine: Engine, table: str, column: str = "id") -> int:
    """An id for a new row of ``table`` that no other row, process or node gets (PostgreSQL)."""
    key = (table, column)
    with _LOCK:
        blocks = _BLOCKS.setdefault(engine, {})
        pid, ids = blocks.get(key, (0, None))
        if pid != os.getpid() or not ids:  # none left, or inherited through a fork: a new block
            ids = deque(row[0] for row in direct.execute(engine, _block_of(key), {}).all())
            blocks[key] = (os.getpid(), ids)
        return ids.popleft()


def _block_of(key: tuple[str, str]):
    """``SELECT nextval(<the column's sequence>) FROM generate_series(1, BLOCK)``, built once
    (the statement's identity is what :mod:`idp.db.direct` prepares it by)."""
    statement = _STATEMENTS.get(key)
    if statement is None:
        sequence = func.pg_get_serial_sequence(*key)
        statement = _STATEMENTS.setdefault(key, select(func.nextval(sequence)).select_from(
            func.generate_series(1, BLOCK)))
    return statement
