"""Writing and verifying the hash-chained audit log.

Each event's hash covers its own content and the previous event's hash, so changing,
deleting or reordering any row breaks the chain from that row on. The chain head
(:class:`~idp.audit.models.AuditChainHead`) records the newest event, so deleting the *last*
events is caught too.

Writers serialise on the head row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's single
write lock), so two nodes never fork the chain. The lock is held until the caller commits:
record events late in a transaction, and keep transactions that record short.

Hashes are plain SHA-256 over a canonical JSON form that reads back identically from SQLite
and PostgreSQL (UTC timestamps to the microsecond, sorted keys, ASCII escapes). Anyone able to
rewrite the whole table can recompute them; an anchor kept outside the database (``idp audit
verify`` prints one, the SIEM export carries every hash) is what catches that. See the README.

Never put secrets or raw personal data in ``details``: the log is read by operators.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from flask import current_app, g, has_request_context, request
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from idp.audit.models import AuditChainHead, AuditEvent
from idp.db import db, sqlite_file
from idp.db.autocommit import transaction_from_here
from idp.db.direct import DirectConnection
from idp.db.types import utcnow

log = logging.getLogger(__name__)

GENESIS = "0" * 64
#: Version of the canonical form; bump it (and keep the old one for old rows) to change it.
HASH_VERSION = 1
#: Upper bound on one event's ``details`` once serialised: the log is not a data store.
MAX_DETAILS_BYTES = 8192

EVENTS = AuditEvent.__table__
HEAD = AuditChainHead.__table__
HEAD_ID = 1
#: The event a writer appends when it found the head row gone (see :func:`verify_chain`).
HEAD_REBUILT = "audit.head_rebuilt"

#: Text that PostgreSQL refuses (NUL) or that cannot be encoded (lone surrogates).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

FIELDS = ("id", "at", "action", "outcome", "actor", "citizen_id", "client_id", "ip_address",
          "user_agent", "details", "prev_hash", "hash")


# -- canonical form ------------------------------------------------------------------------------


def _timestamp(value: datetime) -> str:
    """Microseconds, always UTC with a ``Z``: both databases keep microseconds exactly.
    (``isoformat``: the text ``strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` gives for every year since
    1000, in a third less time, once per event written or verified.)"""
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def _fields(event: AuditEvent | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(event, Mapping):
        return event
    return {name: getattr(event, name) for name in FIELDS}


def _canonical(event: AuditEvent | Mapping[str, Any]) -> bytes:
    fields = _fields(event)
    body = {
        "v": HASH_VERSION,
        "id": fields["id"],
        "at": _timestamp(fields["at"]),
        "action": fields["action"],
        "outcome": fields["outcome"],
        "actor": fields["actor"],
        "citizen_id": fields["citizen_id"],
        "client_id": fields["client_id"],
        "ip_address": fields["ip_address"],
        "user_agent": fields["user_agent"],
        "details": fields["details"],
        "prev_hash": fields["prev_hash"],
    }
    # ensure_ascii: the bytes hashed never depend on how a database stores non-ASCII text.
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def event_hash(event: AuditEvent | Mapping[str, Any]) -> str:
    """SHA-256 of the event's canonical form (an ORM object or a row mapping)."""
    return hashlib.sha256(_canonical(event)).hexdigest()


def _clean_text(value: str | None, limit: int) -> str | None:
    """Text both databases store and return unchanged, cut to the column's length."""
    if value is None:
        return None
    return _UNSTORABLE.sub("\ufffd", str(value))[:limit] or None


def _clean_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """Details as they will read back from the JSON column: string keys, JSON values only.

    Serialising and parsing once turns tuples into lists and non-string keys into strings
    *before* hashing, so the stored value and the hashed value are the same. Values JSON does
    not know (a datetime, say) become their ``str``; NaN and infinity are refused (PostgreSQL
    would refuse them later, in the middle of someone's sign-in).
    """
    if not details:
        return {}
    if _plain(details):
        return dict(sorted(details.items()))

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return _UNSTORABLE.sub("\ufffd", value)
        if isinstance(value, Mapping):
            return {clean(str(k)): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    text = json.dumps(clean(details), default=str, allow_nan=False, sort_keys=True)
    if len(text.encode()) > MAX_DETAILS_BYTES:
        raise ValueError(f"audit details are larger than {MAX_DETAILS_BYTES} bytes")
    return json.loads(text)


_PLAIN_TYPES = frozenset({str, int, bool, type(None)})


def _plain(details: Mapping[str, Any]) -> bool:
    """Details that :func:`_clean_details` would give back as they are (in key order): string
    keys and values that are text, integers, booleans or None, no unstorable character, and
    surely within :data:`MAX_DETAILS_BYTES` (every character counted at the 12 bytes JSON can
    take for it). What every event the server records on its hot paths carries, so those skip
    the serialise-and-parse; anything else takes it."""
    size = 2
    for key, value in details.items():
        kind = type(value)
        if type(key) is not str or kind not in _PLAIN_TYPES or _UNSTORABLE.search(key):
            return False
        if kind is str:
            if _UNSTORABLE.search(value):
                return False
            size += 12 * len(value) + 2
        else:
            size += len(str(value)) if kind is int else 5
        size += 12 * len(key) + 6
    return size <= MAX_DETAILS_BYTES


def _required(value: str, name: str, limit: int) -> str:
    """``action`` and ``outcome`` are constants in code: a bad one is a programming error."""
    if not value or len(value) > limit or _UNSTORABLE.search(value):
        raise ValueError(f"audit {name} must be 1 to {limit} characters: {value!r}")
    return value


# -- writing -------------------------------------------------------------------------------------


def admin_actor() -> str:
    """``admin:<os user>`` for changes made through the ``idp`` command."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"admin:{user}"


#: Takes the head row's lock and reads it in one statement: a no-op UPDATE locks the row on
#: PostgreSQL (as SELECT ... FOR UPDATE would) and takes SQLite's write lock at once (pysqlite
#: opens a transaction only at the first write, and SQLite ignores FOR UPDATE), so no other
#: writer can append between our read of the head and our write. Built once: it runs for
#: every audit event.
_LOCK_HEAD = (HEAD.update().where(HEAD.c.id == HEAD_ID).values(last_id=HEAD.c.last_id)
              .returning(HEAD.c.last_id, HEAD.c.last_hash))


_SET_HEAD = HEAD.update().where(HEAD.c.id == HEAD_ID).values(
    last_id=bindparam("new_id"), last_hash=bindparam("new_hash"), updated_at=bindparam("at"))
_INSERT_EVENTS = EVENTS.insert()


def _lock_head(session=None) -> tuple[int, str, bool]:
    """Lock the chain head for this transaction (of ``session``, a Session or a Connection;
    the request's session by default); return its id and hash, and whether it had to be
    rebuilt (it was missing while events exist)."""
    session = db.session if session is None else session
    dialect = session.get_bind().dialect.name if hasattr(session, "get_bind") else session.dialect.name
    row = session.execute(_LOCK_HEAD).first()
    if row is not None:
        return row.last_id, row.last_hash, False
    query = select(HEAD.c.last_id, HEAD.c.last_hash).where(HEAD.c.id == HEAD_ID).with_for_update()
    tail = session.execute(
        select(EVENTS.c.id, EVENTS.c.hash).order_by(EVENTS.c.id.desc()).limit(1)
    ).first()
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Two first writers may race here; the loser's insert does nothing and its SELECT ... FOR
    # UPDATE below waits for the winner's commit, then reads the winner's head. Only the writer
    # whose insert created the head may call it rebuilt: the loser can have read the winner's
    # first event as the tail.
    created = session.execute(insert(HEAD).values(
        id=HEAD_ID, last_id=tail.id if tail else 0, last_hash=tail.hash if tail else GENESIS,
        updated_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["id"]).returning(HEAD.c.id)).first() is not None
    row = session.execute(query).first()
    return row.last_id, row.last_hash, created and tail is not None


def _append(last_id: int, last_hash: str, **fields: Any) -> AuditEvent:
    """Write one event after ``last_id`` in the request's transaction, as a Core INSERT: no
    ORM object to track and flush (every sign-in writes one). The returned
    :class:`AuditEvent` carries what was written; it is not in the session."""
    row = {**fields, "id": last_id + 1, "at": utcnow(), "prev_hash": last_hash}
    row["hash"] = event_hash(row)
    db.session.execute(_INSERT_EVENTS, row)
    db.session.execute(_SET_HEAD, {"new_id": row["id"], "new_hash": row["hash"], "at": row["at"]})
    return AuditEvent(**row)


def _event_fields(action: str, actor: str, outcome: str, citizen_id: int | None,
                  client_id: str | None, details: dict[str, Any] | None,
                  ip_address: str | None = None, user_agent: str | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "action": _required(action, "action", 64),
        "outcome": _required(outcome, "outcome", 16),
        "actor": _clean_text(actor, 128) or "system",
        "citizen_id": citizen_id,
        "client_id": _clean_text(client_id, 64),
        "details": _clean_details(details),
        "ip_address": _clean_text(ip_address, 64),
        "user_agent": _clean_text(user_agent, 400),
    }
    if has_request_context():
        fields["ip_address"] = _clean_text(request.remote_addr, 64)
        fields["user_agent"] = _clean_text(request.user_agent.string, 400)
    return fields


def _append_all(batch: list[dict[str, Any]]) -> AuditEvent:
    """Lock the head once and append ``batch`` in order, in the current transaction."""
    last_id, last_hash, rebuilt = _lock_head()
    if rebuilt:
        # Leave a trace in the chain itself: events deleted from its end before this point
        # can no longer be detected from the database alone.
        log.warning("audit chain head was missing; rebuilt from event %d", last_id)
        event = _append(last_id, last_hash, action=HEAD_REBUILT, outcome="failure",
                        actor="system", citizen_id=None, client_id=None,
                        details={"from_event": last_id}, ip_address=None, user_agent=None)
        last_id, last_hash = event.id, event.hash
    for fields in batch:
        event = _append(last_id, last_hash, **fields)
        last_id, last_hash = event.id, event.hash
    return event


def record(action: str, *, actor: str = "system", outcome: str = "success",
           citizen_id: int | None = None, client_id: str | None = None,
           details: dict[str, Any] | None = None, commit: bool = False) -> AuditEvent:
    """Append an event to the chain in the current transaction (committed by the caller, or
    here with ``commit=True``). If the transaction rolls back, so does the event: the chain
    never has a gap.

    Request context, when there is one, adds the client IP (as ProxyFix resolved it) and the
    user agent.
    """
    # The head's lock, the event and the new head belong together: a request running in
    # autocommit (idp.db.autocommit) takes a transaction for them.
    transaction_from_here()
    event = _append_all([_event_fields(action, actor, outcome, citizen_id, client_id, details)])
    if commit:
        db.session.commit()
    return event


# -- group commit for high-volume events ---------------------------------------------------------

_DEFERRED = "idp_audit_deferred"


def record_after_commit(action: str, *, actor: str = "system", outcome: str = "success",
                        citizen_id: int | None = None, client_id: str | None = None,
                        details: dict[str, Any] | None = None) -> None:
    """Like :func:`record`, for events of the hottest paths (a token issued): the event is
    written by :func:`flush_after_commit` once the request's own transaction has committed,
    together with the events of every other request finishing at the same moment.

    Why: each :func:`record` holds the chain head's lock until its transaction commits, so
    every token request would queue behind every other one for a lock and a commit of its own.
    Here concurrent requests share one lock and one commit (group commit, as databases do for
    their own log). The response still waits until its event is committed, so an answer the
    client received always has its audit event; an event is never written for a transaction
    that rolled back. The caller must call :func:`flush_after_commit` after committing, or
    :func:`discard_after_commit` after rolling back.
    """
    g.setdefault(_DEFERRED, []).append(
        _event_fields(action, actor, outcome, citizen_id, client_id, details))


def discard_after_commit() -> None:
    g.pop(_DEFERRED, None)


class _GroupCommit:
    """Leader/follower group commit: whoever holds the flush lock writes everything queued.

    The leader writes what is queued when it takes the lock, at once; the events queued while it
    writes make the next batch (under load, about three per batch for 16 requests in flight).
    It does not wait for stragglers: letting the GIL go to gather more makes batches barely
    bigger, the append being one autocommitted statement on PostgreSQL and a short write
    transaction on SQLite, and costs every token the thread switches.

    The others sleep on an event of their own until their batch is written, and the leader,
    once its batch is, wakes the first request still queued to lead the next (:meth:`_lead`):
    one sleep per request, and no leader answers late for writing everyone else's batches. On
    PostgreSQL, where a batch waits for its WAL flush while requests queue behind it, queueing
    on the flush lock instead woke them one after another to take it in turn: twice the thread
    switches (8 per token instead of 4) and ~15 % more CPU per token.

    On PostgreSQL the leader remembers where its last batch left the chain (``tip``) and first
    tries :func:`_append_at_tip`: one statement, one round trip, committed by itself. When
    another writer moved the head since (another worker or node, or an event recorded in a
    request's own transaction), it reads the head and tries again after it, at most
    :attr:`RETRIES_AT_READ_HEAD` times; only then does it take the head's lock in a
    transaction (:func:`_insert_batch`). The append's condition on the head makes every try
    safe: it writes after exactly the head it names, or nothing.
    """

    def __init__(self, engine) -> None:
        self.engine = engine
        postgresql = engine.dialect.name == "postgresql"
        #: How a batch is appended outside SQLAlchemy: after the known tip (PostgreSQL), in a
        #: sqlite3 transaction (a SQLite file), or not at all (an in-memory database, which lives
        #: in the one connection SQLAlchemy's pool keeps).
        self.direct = "postgresql" if postgresql else "sqlite" if sqlite_file(engine) else None
        self.queue: list[tuple[dict[str, Any], list]] = []
        self.queue_lock = threading.Lock()
        self.flush_lock = threading.Lock()
        self.waiting = threading.local()
        #: (id, hash) of the newest event this process committed, while it may still be the
        #: head; None when unknown. Read and written under ``flush_lock``.
        self.tip: tuple[int, str] | None = None
        #: The leader's own connection for :func:`_append_at_tip` and :func:`_append_sqlite`.
        self.tip_connection = DirectConnection(engine) if self.direct else None

    def submit(self, events: list[dict[str, Any]]) -> None:
        written = self._event()
        items = [(fields, [False, None, written]) for fields in events]  # [done, error, event]
        with self.queue_lock:
            self.queue.extend(items)
        while not items[-1][1][0]:
            if self.flush_lock.acquire(blocking=False):
                self._lead()
            else:  # its leader sets it once our batch is written, or to hand us the lead
                written.wait()
                written.clear()
        errors = [state[1] for _, state in items if state[1] is not None]
        if errors:
            raise errors[0]

    def _event(self) -> threading.Event:
        """The calling thread's event to sleep on, made once per thread: a set left over from
        its previous batch only wakes it to look again (the loop in :meth:`submit` sleeps
        until its own batch is written or the lead is free, whatever woke it)."""
        written = getattr(self.waiting, "event", None)
        if written is None:
            written = self.waiting.event = threading.Event()
        written.clear()
        return written

    def _lead(self) -> None:
        """Write what is queued as one batch (``flush_lock`` held on entry, released on
        return), then hand the lead to the first event still queued, whose thread is asleep:
        each leader writes one batch, so none answers late for writing everyone else's. The
        lock is let go before the look at the queue: an event queued after that look finds the
        lock free, and its thread leads itself."""
        try:
            with self.queue_lock:
                batch, self.queue = self.queue, []
            error = None
            try:
                if batch:
                    self._write([fields for fields, _ in batch])
            except BaseException as exc:  # every waiter of this batch learns of the failure
                error = exc
            for _, state in batch:
                state[0], state[1] = True, error
                state[2].set()
            if error is not None and not isinstance(error, Exception):
                raise error  # an interrupt: this thread's own business too
        finally:
            self.flush_lock.release()
            with self.queue_lock:
                if self.queue:
                    self.queue[0][1][2].set()

    #: PostgreSQL: appends tried at a head read just before, when the remembered one moved,
    #: before taking the head's lock (several workers of one machine take turns at the head).
    RETRIES_AT_READ_HEAD = 2

    def _write(self, batch: list[dict[str, Any]]) -> None:
        tip, self.tip = self.tip, None  # unknown until this write is known committed
        if tip is not None and self.direct == "postgresql":
            for attempt in range(1 + self.RETRIES_AT_READ_HEAD):
                if attempt:  # another writer moved the head: try again right after it
                    tip = self.tip_connection.execute(_READ_HEAD, {}).fetchone()
                    if tip is None:
                        break  # no head row: the locked path below rebuilds it
                written = _append_at_tip(batch, *tip, self.tip_connection)
                if written is not None:
                    self.tip = written
                    return
        if self.direct == "sqlite":
            written = _append_sqlite(batch, self.tip_connection)
            if written is not None:
                self.tip = written
                return
        # A Core connection of its own, not the request's ORM session: the batch needs no ORM,
        # and Session.execute costs several times Connection.execute.
        with self.engine.begin() as connection:
            written = _insert_batch(batch, connection)
        self.tip = written


#: PostgreSQL: append a batch after a known head in one statement. The head moves only if it is
#: still where this process left it (a concurrent writer's lock makes the UPDATE wait, then
#: re-read the row and match nothing); the events are inserted only if it moved (joined to the
#: UPDATE's one returned row). Committed on its own, in autocommit: event and head together or
#: neither. ``details`` travels as JSON text and is stored as such (a ``json`` column keeps its
#: text), so it reads back as the value that was hashed.
_APPEND_AT_TIP = """
WITH head AS (
    UPDATE audit_chain_head SET last_id = %(new_id)s, last_hash = %(new_hash)s, updated_at = %(at)s
    WHERE id = 1 AND last_id = %(old_id)s AND last_hash = %(old_hash)s
    RETURNING id)
INSERT INTO audit_events (id, at, action, outcome, actor, citizen_id, client_id, ip_address,
                          user_agent, details, prev_hash, hash)
SELECT e.id, e.at, e.action, e.outcome, e.actor, e.citizen_id, e.client_id, e.ip_address,
       e.user_agent, e.details::json, e.prev_hash, e.hash
FROM head CROSS JOIN jsonb_to_recordset(%(events)s::jsonb) AS e(
    id bigint, at timestamptz, action text, outcome text, actor text, citizen_id integer,
    client_id text, ip_address text, user_agent text, details text, prev_hash text, hash text)
"""


_READ_HEAD = "SELECT last_id, last_hash FROM audit_chain_head WHERE id = 1"


def _chained(batch: list[dict[str, Any]], last_id: int, last_hash: str) -> list[dict[str, Any]]:
    """The batch's rows after (``last_id``, ``last_hash``): ids, one timestamp, hashes."""
    at = utcnow()
    rows = []
    for fields in batch:
        row = {**fields, "id": last_id + 1, "at": at, "prev_hash": last_hash}
        row["hash"] = event_hash(row)
        rows.append(row)
        last_id, last_hash = row["id"], row["hash"]
    return rows


def _append_at_tip(batch: list[dict[str, Any]], last_id: int, last_hash: str,
                   connection: DirectConnection) -> tuple[int, str] | None:
    """Append ``batch`` after the head (``last_id``, ``last_hash``) in one committed statement
    (:data:`_APPEND_AT_TIP`) on ``connection``; the new (id, hash), or None when the head is
    elsewhere now and nothing was written."""
    rows = _chained(batch, last_id, last_hash)
    events = json.dumps([{**row, "at": row["at"].isoformat(), "details": json.dumps(row["details"])}
                         for row in rows])
    new_id, new_hash = rows[-1]["id"], rows[-1]["hash"]
    inserted = connection.execute(_APPEND_AT_TIP, {
        "new_id": new_id, "new_hash": new_hash, "at": rows[-1]["at"], "old_id": last_id,
        "old_hash": last_hash, "events": events}).rowcount
    if inserted == 0:
        return None
    if inserted != len(rows):  # cannot happen: the join gives every row or none
        raise RuntimeError(f"audit append wrote {inserted} of {len(rows)} events")
    return new_id, new_hash


@cache
def _sqlite_binds(dialect) -> dict[str, Any]:
    """The events table's bind processing for SQLite (naive UTC timestamps, JSON text), taken
    from the columns' own types, so a row written by :func:`_append_sqlite` reads back through
    the ORM exactly as one the ORM wrote."""
    binds = {column.name: column.type.dialect_impl(dialect).bind_processor(dialect)
             for column in EVENTS.c}
    return {name: processor for name, processor in binds.items() if processor is not None}


def _append_sqlite(batch: list[dict[str, Any]], connection: DirectConnection) -> tuple[int, str] | None:
    """SQLite: append ``batch`` on ``connection`` (sqlite3 in autocommit) in one write
    transaction: ``BEGIN IMMEDIATE`` takes the database's one write lock, so the head read next
    is the head the events follow. The same statements as :func:`_insert_batch` without
    SQLAlchemy's execution layer, which cost several times SQLite's own work for them. The new
    (id, hash), or None when there is no head row (the locked path rebuilds it)."""
    binds = _sqlite_binds(connection.engine.dialect)

    def bound(row: dict[str, Any]) -> dict[str, Any]:
        row = dict(row)
        for name, process in binds.items():
            row[name] = process(row[name])
        return row

    connection.execute("BEGIN IMMEDIATE", {})
    try:
        head = connection.execute(_READ_HEAD, {}).fetchone()
        if head is None:
            connection.execute("ROLLBACK", {})
            return None
        rows = _chained(batch, *head)
        connection.executemany(_SQLITE_INSERT, [bound(row) for row in rows])
        connection.execute(_SQLITE_SET_HEAD, {"new_id": rows[-1]["id"], "new_hash": rows[-1]["hash"],
                                              "at": binds["at"](rows[-1]["at"])})
        connection.execute("COMMIT", {})
    except BaseException:
        connection.close()  # rolls the transaction back; the next use connects again
        raise
    return rows[-1]["id"], rows[-1]["hash"]


_SQLITE_INSERT = (
    "INSERT INTO audit_events (id, at, action, outcome, actor, citizen_id, client_id, ip_address, "
    "user_agent, details, prev_hash, hash) VALUES (:id, :at, :action, :outcome, :actor, "
    ":citizen_id, :client_id, :ip_address, :user_agent, :details, :prev_hash, :hash)")
_SQLITE_SET_HEAD = ("UPDATE audit_chain_head SET last_id = :new_id, last_hash = :new_hash, "
                    "updated_at = :at WHERE id = 1")


def _insert_batch(batch: list[dict[str, Any]], connection) -> tuple[int, str]:
    """:func:`_append_all` for a batch, as one multi-row INSERT (no ORM objects) in
    ``connection``'s transaction: the same rows and hashes, a fraction of the work on the
    hottest path. Returns the new head's (id, hash)."""
    last_id, last_hash, rebuilt = _lock_head(connection)
    if rebuilt:
        log.warning("audit chain head was missing; rebuilt from event %d", last_id)
        batch = [{"action": HEAD_REBUILT, "outcome": "failure", "actor": "system",
                  "citizen_id": None, "client_id": None, "details": {"from_event": last_id},
                  "ip_address": None, "user_agent": None}, *batch]
    rows = _chained(batch, last_id, last_hash)
    connection.execute(_INSERT_EVENTS, rows)
    connection.execute(_SET_HEAD, {"new_id": rows[-1]["id"], "new_hash": rows[-1]["hash"],
                                   "at": rows[-1]["at"]})
    return rows[-1]["id"], rows[-1]["hash"]


def flush_after_commit() -> None:
    """Write this request's deferred events (see :func:`record_after_commit`)."""
    pending = g.pop(_DEFERRED, None)
    if pending:
        _group().submit(pending)


def record_grouped(action: str, *, actor: str, ip_address: str | None, user_agent: str | None,
                   outcome: str = "success", citizen_id: int | None = None,
                   client_id: str | None = None, details: dict[str, Any] | None = None) -> None:
    """Write one event through the group commit and return once it is committed: for the
    answers given before Flask (:mod:`idp.fastpath`), which have no transaction of their own
    and no Flask request to take the address and user agent from. Needs an app context."""
    _group().submit([_event_fields(action, actor, outcome, citizen_id, client_id, details,
                                   ip_address, user_agent)])


def _group() -> _GroupCommit:
    group = current_app.extensions.get("idp.audit_group_commit")
    if group is None:
        group = current_app.extensions.setdefault("idp.audit_group_commit", _GroupCommit(db.engine))
    return group


# -- reading and verifying -----------------------------------------------------------------------


def as_dict(row: AuditEvent | Mapping[str, Any]) -> dict[str, Any]:
    """An event as JSON-ready data (tail --json, export): every stored field and its hash."""
    fields = _fields(row)
    data = {name: fields[name] for name in FIELDS}
    data["at"] = _timestamp(fields["at"])
    return data


def iter_events(*, after_id: int | None = 0, since: datetime | None = None, until: datetime | None = None,
                batch: int = 1000) -> Iterator[Mapping[str, Any]]:
    """Events in chain order, read in keyset-paged batches (constant memory on any size)."""
    while True:
        query = select(EVENTS).order_by(EVENTS.c.id).limit(batch)
        if after_id is not None:
            query = query.where(EVENTS.c.id > after_id)
        if since is not None:
            query = query.where(EVENTS.c.at >= since)
        if until is not None:
            query = query.where(EVENTS.c.at < until)
        rows = db.session.execute(query).mappings().all()
        yield from rows
        if len(rows) < batch:
            return
        after_id = rows[-1]["id"]


def latest(n: int) -> list[Mapping[str, Any]]:
    """The ``n`` newest events, oldest first."""
    rows = db.session.execute(select(EVENTS).order_by(EVENTS.c.id.desc()).limit(n)).mappings().all()
    return list(reversed(rows))


def head() -> tuple[int, str] | None:
    row = db.session.execute(
        select(HEAD.c.last_id, HEAD.c.last_hash).where(HEAD.c.id == HEAD_ID)).first()
    return (row.last_id, row.last_hash) if row else None


@dataclass(frozen=True)
class ChainProblem:
    """The first place the chain is broken. ``event_id`` is None when the head row is gone."""

    event_id: int | None
    reason: str


@dataclass(frozen=True)
class Anchor:
    """An event id and hash copied out of the database earlier (``idp audit verify`` prints
    one). If the chain still verifies and still has that hash at that id, nobody rewrote the
    events up to it, even with full write access to the database."""

    event_id: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        event_id, sep, digest = text.partition(":")
        if not sep or not event_id.isdigit() or int(event_id) < 1 or not re.fullmatch(
                "[0-9a-f]{64}", digest):
            raise ValueError("an anchor is EVENT_ID:SHA256_HEX, as `idp audit verify` prints it")
        return cls(int(event_id), digest)


def _rebuilt_reason(row: Mapping[str, Any]) -> str:
    details = row["details"] if isinstance(row["details"], dict) else {}
    after = details.get("from_event", row["id"] - 1)
    return (f"records that the chain head was missing and was rebuilt from event {after}: events "
            f"after {after} may have been deleted before it (compare with an anchor or the SIEM "
            f"export, then pass --accept-rebuild {row['id']})")


def verify_chain(batch: int = 5000, anchor: Anchor | None = None,
                 accepted_rebuilds: frozenset[int] = frozenset()) -> tuple[int, ChainProblem | None]:
    """Walk the chain in id order; return how many events were checked and the first problem.

    - a changed row fails its own hash (the id is hashed too, so rows swapped or renumbered
      fail here as well);
    - a row changed *and* re-hashed breaks the next row's ``prev_hash`` link;
    - a deleted row leaves a gap in the ids, which are dense by construction;
    - deleted rows at the end leave the chain shorter than its head says;
    - deleted rows at the end *and* a deleted head leave a chain that ends cleanly, but the next
      writer rebuilds the head and records ``audit.head_rebuilt`` (:func:`_append_all`): that
      event is a problem until the operator, having compared the events before it with an
      anchor or the SIEM's copy, names it in ``accepted_rebuilds``. The head row exists from
      the first migration on, so a rebuild never happens in normal operation.

    Writers may append while this runs: the head is read after the walk, and the walk goes on
    while the head is ahead of it, so only events that really are gone are reported missing.
    """
    expected_prev, expected_id, checked = GENESIS, 1, 0
    anchor_seen = False
    while True:
        # The first pass has no lower bound, so rows slipped in below id 1 are seen too.
        for row in iter_events(after_id=expected_id - 1 if checked else None, batch=batch):
            if row["id"] != expected_id:
                if row["id"] < expected_id:  # only possible for ids below 1
                    return checked, ChainProblem(row["id"], "is not part of the chain (ids start at 1)")
                return checked, ChainProblem(
                    expected_id, f"is missing (deleted): the next event present is {row['id']}")
            if event_hash(row) != row["hash"]:
                return checked, ChainProblem(row["id"], "content was changed after it was written "
                                             "(or the row was moved from another position)")
            if row["prev_hash"] != expected_prev:
                return checked, ChainProblem(
                    row["id"], f"does not follow event {row['id'] - 1}: its prev_hash is not that "
                    "event's hash (one of the two was changed and re-hashed)")
            if row["action"] == HEAD_REBUILT and row["id"] not in accepted_rebuilds:
                return checked, ChainProblem(row["id"], _rebuilt_reason(row))
            if anchor is not None and row["id"] == anchor.event_id:
                if row["hash"] != anchor.hash:
                    return checked, ChainProblem(row["id"], "does not match the anchor kept outside "
                                                 "the database (the chain was rewritten up to here)")
                anchor_seen = True
            expected_prev, expected_id = row["hash"], row["id"] + 1
            checked += 1
        recorded = head()
        last_id = expected_id - 1
        if recorded is None:
            if checked == 0:
                break
            return checked, ChainProblem(None, "the chain head record is missing, so deleted "
                                         "events at the end of the chain cannot be ruled out")
        head_id, head_hash = recorded
        if head_id == last_id:
            if checked and head_hash != expected_prev:
                return checked, ChainProblem(last_id, "is not the event the chain head recorded "
                                             "(it was replaced)")
            break
        if head_id < last_id:
            return checked, ChainProblem(head_id + 1, "is not recorded in the chain head (added "
                                         "behind the log's back, or the head was rolled back)")
        # The head is ahead: either events were appended while we walked, or they are gone.
        more = db.session.execute(select(EVENTS.c.id).where(EVENTS.c.id > last_id).limit(1)).first()
        if more is None:
            return checked, ChainProblem(expected_id, f"is missing (deleted): the chain head says "
                                         f"the chain ends at event {head_id}, the last event "
                                         f"present is {last_id}")
    if anchor is not None and not anchor_seen:
        return checked, ChainProblem(anchor.event_id, "is missing: the anchor says the chain "
                                     "reached it (events at the end were deleted)")
    return checked, None
