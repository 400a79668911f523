"""Applying input files to the ledger exactly once, then archiving them: every integration's.

For each group of files: fetch and hash them, drop the ones the ledger already holds, map
the rest with the integration's :class:`~stockbridge.mapping.Mapping` in one vectorised pass,
and commit documents, movements, held lines, rejects and stock deltas in one transaction.
Only after that commit are error files written and inputs archived; both steps are
repeatable, so a run killed at any instant is finished by the next one (the ledger says
"applied, not archived" and the file is archived without applying again).

Parsing is pure work, so the next group is parsed on helper threads while the current one
is written: the database and the parsers keep both cores busy. Fetching, the ledger and
every side effect stay on the calling thread, in the order above; a parse done ahead is
used only if the ledger, asked again just before the group's transaction, agrees on which
files are new.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import tempfile
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from stockbridge.context import UNREADABLE_FOLDER, RunContext
from stockbridge.formats.text import (
    UndecodableFile,
    decode,
    iter_chunks,
    line_count,
    split_lines,
)
from stockbridge.ledger.ledger import Batch, DocumentRecord, NewDocument
from stockbridge.locations import safe_name
from stockbridge.locations.base import readable_name
from stockbridge.logs import NETWORK_RETRIES
from stockbridge.mapping import Mapping, ParsedFiles
from stockbridge.movements import Document
from stockbridge.summary import FileOutcome, RunSummary
from tasks.collect import Candidate
from tasks.errorfiles import write_error_file
from tasks.progress import Progress

PARSERS = 2
"""Helper threads parsing: Arrow's kernels release the GIL, so parts parse side by side."""
PARSE_PART_BYTES = 4 * 1024 * 1024
"""Text parsed by one helper at a time; the parts of a batch are still written together."""


@dataclass
class Fetched:
    """A candidate file read (or spooled to disk when large) and identified by content."""

    candidate: Candidate
    digest: str
    batch_id: str
    data: bytes | None = None
    spooled: Path | None = None
    encoding: str | None = None

    @property
    def name(self) -> str:
        return self.candidate.file.name

    @property
    def shown(self) -> str:
        """The name for the ledger, summaries and error files (always valid text)."""
        return readable_name(self.name)


def batch_id_of(name: str, digest: str) -> str:
    """Same name and same bytes: the same document, whichever folder it arrived in."""
    return hashlib.sha256(f"{name}\0{digest}".encode(errors="surrogateescape")).hexdigest()[:32]


@task(name="apply input files", cache_policy=NO_CACHE, **NETWORK_RETRIES)
def apply_files(ctx: RunContext, mapping: Mapping, candidates: list[Candidate]) -> RunSummary:
    """Apply ``candidates`` with ``mapping``; each file's outcome goes into ``ctx.summary``
    as soon as it is archived, so a run that fails half way still reports (and records in
    its history) what it did apply, and a retried attempt adds to the first one's."""
    result = ctx.summary
    groups = plan_groups(candidates, ctx.config.batch.max_files, ctx.config.batch.chunk_bytes)
    parser = ThreadPoolExecutor(PARSERS, thread_name_prefix="parse-ahead")
    progress = Progress(
        ctx.store, ctx.integration, len(candidates), sum(c.file.size for c in candidates)
    )
    progress.start()
    done = False
    try:
        upcoming = _read_ahead(ctx, parser, mapping, next(groups, None), [])
        while upcoming is not None:
            current = upcoming
            try:
                upcoming = _read_ahead(ctx, parser, mapping, next(groups, None), current.new)
            finally:  # even when the group ahead cannot be read: it never holds this one up
                _apply_group(ctx, mapping, current, result, parser, progress)
        done = True
    finally:
        parser.shutdown(wait=True, cancel_futures=True)
        progress.finish(done)
    _complete_interrupted_archiving(ctx, result)
    return result


@dataclass
class Sorted:
    """A group's fetched files, sorted by what the ledger says of them."""

    fresh: list[Fetched]
    """New and readable: to apply. Small files hold their text decoded to UTF-8."""
    unreadable: list[tuple[Fetched, str]]
    """New but not text: set aside whole, with the reason."""
    finish: list[tuple[Fetched, DocumentRecord | None]]
    """Seen before (or twice in this group): archive, never apply again."""


@dataclass
class Upcoming:
    """A group fetched and sorted out, its parts being parsed on the helper threads."""

    fetched: list[Fetched]
    new: list[str]
    """Batch ids of the files that were new when the group was fetched, before the groups
    ahead of it were applied: what ``sorted_out`` and ``parts`` were made for."""
    sorted_out: Sorted
    parts: list[Callable[[], ParsedFiles]]
    """The fresh small files' lines, part by part (none for a large file: it is parsed as
    it streams)."""


def _read_ahead(
    ctx: RunContext,
    parser: ThreadPoolExecutor,
    mapping: Mapping,
    group: list[Candidate] | None,
    claimed: list[str],
) -> Upcoming | None:
    """Fetch and sort out ``group`` here, and have ``parser`` parse it.

    ``claimed``: batch ids the group before it is about to add to the ledger.
    """
    if group is None:
        return None
    fetched = [f for f in (_fetch(ctx, c) for c in group) if f is not None]
    seen = ctx.ledger.known_documents(ctx.store, [f.batch_id for f in fetched])
    new = _new_ids(fetched, seen, claimed)
    sorted_out = _sort_out(fetched, seen, new)
    parts = [
        parser.submit(_map_in_memory, ctx, mapping, part).result
        for part in _parts(sorted_out.fresh)
    ]
    return Upcoming(fetched, new, sorted_out, parts)


def _new_ids(
    fetched: list[Fetched], seen: dict[str, DocumentRecord], claimed: list[str]
) -> list[str]:
    """Batch ids of the files to apply: not in the ledger, not claimed, first of their kind."""
    taken = set(claimed)
    new = []
    for item in fetched:
        if item.batch_id not in seen and item.batch_id not in taken:
            taken.add(item.batch_id)
            new.append(item.batch_id)
    return new


def _sort_out(fetched: list[Fetched], seen: dict[str, DocumentRecord], new: list[str]) -> Sorted:
    """Decode the new files and set the unreadable ones aside (into copies: ``fetched`` is
    left as it was, so this may be done again)."""
    result = Sorted([], [], [])
    pending = set(new)
    for item in fetched:
        if item.batch_id not in pending:
            result.finish.append((item, seen.get(item.batch_id)))
            continue
        pending.discard(item.batch_id)
        decoded, problem = _decoded(item)
        if problem:
            result.unreadable.append((item, problem))
        else:
            result.fresh.append(decoded)
    return result


def _parts(fresh: list[Fetched]) -> list[list[Fetched]]:
    """Consecutive small files of about :data:`PARSE_PART_BYTES` each; none for a large
    file (it is parsed as it streams, in its transaction)."""
    if any(item.data is None for item in fresh):
        return []
    parts: list[list[Fetched]] = []
    size = 0
    for item in fresh:
        assert item.data is not None
        if not parts or (parts[-1] and size + len(item.data) > PARSE_PART_BYTES):
            parts.append([])
            size = 0
        parts[-1].append(item)
        size += len(item.data)
    return parts


def _complete_interrupted_archiving(ctx: RunContext, result: RunSummary) -> None:
    """Record the archiving of files a killed run moved but could not mark as archived.

    A run killed after moving some of a group's files and before recording it leaves their
    documents 'applied' while the files are already in the archive: the recovery in
    :func:`_apply_group` never sees them (they are no longer listed), so finish them here.
    A document whose file is still in the import folder is left to that recovery.
    """
    displays = {location.display: index for index, location in enumerate(ctx.imports)}
    archived: dict[str, tuple[str, str | None]] = {}
    for record in ctx.ledger.unarchived_documents(ctx.store):
        index = displays.get(record.source.removeprefix(f"{ctx.integration}:"))
        if index is None:
            continue
        source, target = ctx.imports[index], ctx.archive_for(index)
        moved_as = archive_name(record.document, record.digest)
        if source.exists(record.document) or not target.exists(moved_as):
            continue
        outcome = FileOutcome(
            record.document, source.display, "recovered", note="archived by an interrupted run"
        )
        if record.lines_rejected:
            outcome.error_file = write_error_file(
                ctx, record.document, record.digest, rejects=ctx.ledger.rejects_of(record.id)
            )
        outcome.archived_to = source.move_to(record.document, target, moved_as)  # already done
        archived[record.batch_id] = (outcome.archived_to, outcome.error_file)
        result.files.append(outcome)
    ctx.ledger.mark_archived(ctx.store, archived)


def plan_groups(
    candidates: list[Candidate], max_files: int, chunk_bytes: int
) -> Iterator[list[Candidate]]:
    """Consecutive small files share a transaction; a large file gets one of its own."""
    group: list[Candidate] = []
    size = 0
    for candidate in candidates:
        if candidate.file.size > chunk_bytes:
            if group:
                yield group
                group, size = [], 0
            yield [candidate]
            continue
        if group and (len(group) >= max_files or size + candidate.file.size > chunk_bytes):
            yield group
            group, size = [], 0
        group.append(candidate)
        size += candidate.file.size
    if group:
        yield group


def _apply_group(
    ctx: RunContext,
    mapping: Mapping,
    group: Upcoming,
    result: RunSummary,
    parser: ThreadPoolExecutor,
    progress: Progress,
) -> None:
    fetched = group.fetched
    streamed = [0, 0]  # lines and bytes of a large file already reported, piece by piece

    def piece_done(lines: int, size: int) -> None:
        streamed[0] += lines
        streamed[1] += size
        progress.advance(lines=lines, done_bytes=size)

    # Asked again now that the groups before this one are in the ledger: the work done
    # ahead is used only if it was done for exactly the files that are new now.
    seen = ctx.ledger.known_documents(ctx.store, [f.batch_id for f in fetched])
    new = _new_ids(fetched, seen, [])
    if new == group.new:
        sorted_out, parts = group.sorted_out, group.parts
        sorted_out.finish = [
            (item, seen.get(item.batch_id, record)) for item, record in sorted_out.finish
        ]
    else:
        group.parts = []  # the stale parse is not kept alive beside the new one
        sorted_out = _sort_out(fetched, seen, new)
        parts = [partial(_map_in_memory, ctx, mapping, part) for part in _parts(sorted_out.fresh)]
    fresh, unreadable, finish = sorted_out.fresh, sorted_out.unreadable, sorted_out.finish

    counts: dict[str, list[int]] = {}
    held: dict[str, int] = {}
    notes: dict[str, str] = {}
    document_ids: dict[str, int] = {}
    if fresh or unreadable:
        with ctx.ledger.batch(ctx.store, ctx.integration, ctx.run_id) as batch:
            document_ids = batch.add_documents(
                [_new_document(ctx, f) for f in fresh]
                + [_new_document(ctx, f, "quarantined", why) for f, why in unreadable]
            )
            if parts:
                while parts:  # each part's parse is let go once it is in the batch
                    parts.pop(0)().record(batch, result.reject_reasons)
            elif fresh:
                if len(fresh) != 1 or fresh[0].spooled is None:
                    raise RuntimeError("a large file is always applied in a batch of its own")
                _stream_large(
                    ctx, batch, mapping, fresh[0], result.reject_reasons, parser, piece_done
                )
            counts = {b: list(c) for b, c in batch.counts.items()}
            held, notes = dict(batch.held), dict(batch.notes)

    archived: dict[str, tuple[str, str | None]] = {}
    for item in fresh:
        applied, rejected = counts.get(item.batch_id, [0, 0])
        outcome = FileOutcome(
            item.shown,
            _location(ctx, item),
            "applied",
            applied,
            rejected,
            lines_held=held.get(item.batch_id, 0),
            note=notes.get(item.batch_id, ""),
        )
        if rejected:
            outcome.error_file = write_error_file(
                ctx,
                item.shown,
                item.digest,
                rejects=ctx.ledger.rejects_of(document_ids[item.batch_id]),
            )
        _archive(ctx, item, outcome, archived)
        result.files.append(outcome)
    for item, why in unreadable:
        outcome = FileOutcome(item.shown, _location(ctx, item), "quarantined", note=why)
        outcome.error_file = write_error_file(
            ctx, item.shown, item.digest, reasons=[(0, "", f"file not applied: {why}")]
        )
        target = ctx.archive_for(item.candidate.location).child(UNREADABLE_FOLDER)
        outcome.archived_to = _move(ctx, item, target)
        result.files.append(outcome)
    for item, record in finish:
        if record is not None and record.status == "applied":
            outcome = FileOutcome(
                item.shown, _location(ctx, item), "recovered", note="applied by an earlier run"
            )
            if record.lines_rejected:
                outcome.error_file = write_error_file(
                    ctx, item.shown, item.digest, rejects=ctx.ledger.rejects_of(record.id)
                )
            _archive(ctx, item, outcome, archived)
        else:
            when = f" on {record.applied_at:%Y-%m-%d %H:%M} UTC" if record else ""
            outcome = FileOutcome(
                item.shown,
                _location(ctx, item),
                "duplicate",
                note=f"same name and bytes as a file already applied{when}; not applied again",
            )
            target = ctx.archive_for(item.candidate.location)
            if record is not None and record.status == "quarantined":
                target = target.child(UNREADABLE_FOLDER)
            outcome.archived_to = _move(ctx, item, target)
        result.files.append(outcome)
    ctx.ledger.mark_archived(ctx.store, archived)
    for item in fetched:
        if item.spooled is not None:
            item.spooled.unlink(missing_ok=True)
    lines = sum(sum(counts.get(item.batch_id, [0, 0])) for item in fresh)
    size = sum(item.candidate.file.size for item in fetched)
    progress.advance(len(fetched), max(0, lines - streamed[0]), max(0, size - streamed[1]))


def _archive(
    ctx: RunContext,
    item: Fetched,
    outcome: FileOutcome,
    archived: dict[str, tuple[str, str | None]],
) -> None:
    outcome.archived_to = _move(ctx, item, ctx.archive_for(item.candidate.location))
    archived[item.batch_id] = (outcome.archived_to, outcome.error_file)


def archive_name(name: str, digest: str) -> str:
    """``sales.txt`` -> ``sales.3f2a9c1d07b4.txt``: deliveries of one name never collide."""
    stem, dot, suffix = safe_name(name).rpartition(".")
    if not dot or not stem:
        return f"{safe_name(name)}.{digest[:12]}"
    return f"{stem}.{digest[:12]}.{suffix}"


def _move(ctx: RunContext, item: Fetched, target) -> str:
    source = ctx.imports[item.candidate.location]
    return source.move_to(item.name, target, archive_name(item.name, item.digest))


def _location(ctx: RunContext, item: Fetched) -> str:
    return ctx.imports[item.candidate.location].display


def _fetch(ctx: RunContext, candidate: Candidate) -> Fetched | None:
    """Read a file once, hashing as it streams; large files go to the spool folder."""
    location = ctx.imports[candidate.location]
    name = candidate.file.name
    try:
        if candidate.file.size <= ctx.config.batch.chunk_bytes:
            data = location.read_bytes(name)
            digest = hashlib.sha256(data).hexdigest()
            return Fetched(candidate, digest, batch_id_of(name, digest), data=data)
        descriptor, spool_path = tempfile.mkstemp(suffix=".part", dir=ctx.spool)
        os.close(descriptor)
        spooled = Path(spool_path)
        sha = hashlib.sha256()
        utf8 = codecs.getincrementaldecoder("utf-8")()
        valid_utf8 = True
        with location.open_read(name) as source, open(spooled, "wb") as target:
            first = True
            while block := source.read(8 * 1024 * 1024):
                if first and block.startswith(codecs.BOM_UTF8):
                    block_for_check = block[len(codecs.BOM_UTF8) :]
                else:
                    block_for_check = block
                first = False
                sha.update(block)
                target.write(block)
                if valid_utf8:
                    try:
                        utf8.decode(block_for_check)
                    except UnicodeDecodeError:
                        valid_utf8 = False
            if valid_utf8:
                try:  # a multi-byte sequence cut short at the very end is not UTF-8 either
                    utf8.decode(b"", final=True)
                except UnicodeDecodeError:
                    valid_utf8 = False
        digest = sha.hexdigest()
        with open(spooled, "rb") as handle:
            head = handle.read(2)
        if head in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            encoding = "utf-16"
        else:
            encoding = "utf-8" if valid_utf8 else "cp1252"
        return Fetched(
            candidate, digest, batch_id_of(name, digest), spooled=spooled, encoding=encoding
        )
    except FileNotFoundError:
        ctx.logger.warning("%s disappeared from %s before it could be read", name, location.display)
        return None


def _decoded(item: Fetched) -> tuple[Fetched, str | None]:
    """A small file's text as UTF-8 (in a copy), or why a file is unreadable."""
    if item.data is not None:
        try:
            decoded = decode(item.data)
        except UndecodableFile as exc:
            return item, f"the file {exc}"
        return replace(item, data=decoded.utf8, encoding=decoded.encoding), None
    if item.encoding == "cp1252":
        assert item.spooled is not None
        try:
            with open(item.spooled, "rb") as handle:
                for chunk in iter_chunks(handle, 16 * 1024 * 1024):
                    chunk.decode("cp1252")
        except UnicodeDecodeError:
            return item, "the file is neither UTF-8 nor Windows-1252 text; is it a binary file?"
    return item, None


def _new_document(
    ctx: RunContext, item: Fetched, status: str = "applied", note: str | None = None
) -> NewDocument:
    return NewDocument(
        batch_id=item.batch_id,
        source=f"{ctx.integration}:{_location(ctx, item)}",
        document=item.shown,
        digest=item.digest,
        status=status,
        encoding=item.encoding,
        note=note,
        occurred_at=item.candidate.file.modified,
    )


def _documents(ctx: RunContext, items: list[Fetched]) -> list[Document]:
    return [
        Document(
            f.batch_id, f"{ctx.integration}:{_location(ctx, f)}", f.shown, f.candidate.file.modified
        )
        for f in items
    ]


def _map_in_memory(ctx: RunContext, mapping: Mapping, items: list[Fetched]) -> ParsedFiles:
    texts = []
    for item in items:
        assert item.data is not None
        texts.append(item.data)
    return mapping.map_files(texts, _documents(ctx, items))


def _stream_large(
    ctx: RunContext,
    batch: Batch,
    mapping: Mapping,
    item: Fetched,
    reasons: Counter[str],
    parser: ThreadPoolExecutor,
    piece_done: Callable[[int, int], None] = lambda lines, size: None,
) -> None:
    """One large file, mapped chunk by chunk inside the same open transaction.

    The helper threads map the next chunks while this one is added; at most
    :data:`PARSERS` + 1 chunks are in memory at once. A format whose lines do not stand
    alone (a header names the columns) is mapped whole instead.
    """
    assert item.spooled is not None
    documents = _documents(ctx, [item])
    with open(item.spooled, "rb") as handle:
        if item.encoding == "utf-16" or not mapping.streams_lines:
            text = decode(handle.read()).utf8
            mapping.map_files([text], documents).record(batch, reasons)
            return
        first_line = 1
        parsing: deque[tuple[Future[ParsedFiles], int, int]] = deque()
        for number, chunk in enumerate(iter_chunks(handle, ctx.config.batch.chunk_bytes)):
            size = len(chunk)  # as read, for the progress in bytes of the listed size
            if item.encoding == "cp1252":
                chunk = chunk.decode("cp1252").encode("utf-8")
            elif number == 0 and chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8) :]
            lines = line_count(chunk)
            future = parser.submit(_map_chunk, mapping, chunk, first_line, documents)
            parsing.append((future, lines, size))
            first_line += lines
            if len(parsing) > PARSERS:
                _record_piece(parsing.popleft(), batch, reasons, piece_done)
        while parsing:
            _record_piece(parsing.popleft(), batch, reasons, piece_done)


def _record_piece(
    piece: tuple[Future[ParsedFiles], int, int],
    batch: Batch,
    reasons: Counter[str],
    piece_done: Callable[[int, int], None],
) -> None:
    future, lines, size = piece
    future.result().record(batch, reasons)
    piece_done(lines, size)


def _map_chunk(
    mapping: Mapping, chunk: bytes, first_line: int, documents: list[Document]
) -> ParsedFiles:
    """A piece of one large file whose first line is number ``first_line``."""
    lines = split_lines(chunk)
    count = len(lines)
    return mapping.map_lines(
        lines,
        np.zeros(count, dtype=np.int64),
        np.arange(first_line, first_line + count, dtype=np.int64),
        documents,
    )
