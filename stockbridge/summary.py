"""What a run did, in one object: printed by the CLI, stored in the ledger, shown in Prefect."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from stockbridge.movements import format_quantities

FileStatus = Literal["applied", "duplicate", "recovered", "quarantined"]


FILE_STATUS_WORDS = {
    "applied": "Applied",
    "duplicate": "Duplicate, skipped",
    "recovered": "Applied earlier, archived now",
    "quarantined": "Unreadable, set aside",
}
FILE_COLUMNS = [
    "File",
    "Outcome",
    "Lines applied",
    "Lines rejected",
    "Error file",
    "Note",
    "Lines held",
    "Archived to",
    "Location",
]


def _cell(value: object) -> str:
    """A value as Markdown table text: a ``|`` or a line break would end the cell."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def markdown_table(headers: list[str], rows: list[tuple[object, ...]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class FileOutcome:
    """One input file's fate. ``recovered`` = applied by an earlier, interrupted run."""

    file: str
    location: str
    status: FileStatus
    lines_applied: int = 0
    lines_rejected: int = 0
    archived_to: str | None = None
    error_file: str | None = None
    note: str = ""
    lines_held: int = 0


@dataclass
class WaitingReference:
    """A source code whose lines are held until it is linked (a drink to link)."""

    reference: str
    labels: list[str]
    quantity: int
    """Held quantity in thousandths of the source's unit."""
    amount: int | None = None
    """The source's money figure for the held lines, thousandths."""
    lines: int = 0


@dataclass
class RunSummary:
    store: str
    integration: str
    run_id: str
    state: Literal["completed", "skipped", "failed"] = "completed"
    message: str = ""
    files: list[FileOutcome] = field(default_factory=list)
    reject_reasons: Counter[str] = field(default_factory=Counter)
    new_articles: int = 0
    catalogue_rejects: int = 0
    export_path: str | None = None
    export_rows: int = 0
    negative: dict[str, int] = field(default_factory=dict)
    """Articles whose available stock is below zero, in thousandths."""
    waiting: list[WaitingReference] = field(default_factory=list)
    """Every source code with held lines after the run (not only this run's)."""
    waiting_word: str = "reference(s) to link"
    export_word: str = "article(s)"
    notes: list[str] = field(default_factory=list)
    """Integration-specific lines for the rendered summary."""
    headline_text: str = ""
    """What a completed run did, in the integration's own words, for integrations that move
    rows or orders rather than files (``42 row(s) sent, 3 received``); files, when there are
    any, are still counted after it."""

    def count(self, status: FileStatus) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def lines_applied(self) -> int:
        return sum(f.lines_applied for f in self.files)

    @property
    def lines_rejected(self) -> int:
        return sum(f.lines_rejected for f in self.files)

    @property
    def lines_held(self) -> int:
        return sum(f.lines_held for f in self.files)

    def ledger_counts(self) -> dict[str, int]:
        return {
            "files_applied": self.count("applied"),
            "files_duplicate": self.count("duplicate"),
            "files_quarantined": self.count("quarantined"),
            "lines_applied": self.lines_applied,
            "lines_rejected": self.lines_rejected,
            "negative_references": len(self.negative),
            "lines_held": self.lines_held,
        }

    def markdown(self, max_files: int = 100) -> str:
        """The summary for Prefect's UI: a heading, then tables a person scans, not a log."""
        state = {"completed": "Completed", "skipped": "Skipped", "failed": "Failed"}[self.state]
        parts = [f"## {self.store}: {state}", "", self.headline() if self.message else ""]
        rows = [
            ("Files applied", self.count("applied")),
            ("Lines applied", self.lines_applied),
            ("Lines rejected", self.lines_rejected),
            ("Lines held", self.lines_held),
            ("Duplicate files skipped", self.count("duplicate")),
            ("Unreadable files set aside", self.count("quarantined")),
            ("Files of an interrupted run archived", self.count("recovered")),
            ("New articles", self.new_articles),
            ("Article file lines ignored", self.catalogue_rejects),
            (f"Exported {self.export_word}", self.export_rows),
            ("Articles with negative stock", len(self.negative)),
            (self.waiting_word.capitalize(), len(self.waiting)),
        ]
        parts += ["", markdown_table(["What", "Count"], [r for r in rows if r[1]])]
        if self.reject_reasons:
            reasons = [(reason, n) for reason, n in self.reject_reasons.most_common()]
            parts += ["", "### Why lines were rejected", ""]
            parts.append(markdown_table(["Reason", "Lines"], reasons))
        if self.negative:
            shown = list(self.negative.items())[:max_files]
            quantities = format_quantities([q for _, q in shown]).to_pylist()
            parts += ["", "### Negative stock", ""]
            parts.append(
                markdown_table(
                    ["Article", "Quantity"],
                    [(r, q) for (r, _), q in zip(shown, quantities, strict=True)],
                )
            )
        if self.waiting:
            shown_waiting = self.waiting[:max_files]
            quantities = format_quantities([w.quantity for w in shown_waiting]).to_pylist()
            parts += ["", f"### {self.waiting_word.capitalize()}", ""]
            parts.append(
                markdown_table(
                    ["Code", "Labels", "Waiting quantity"],
                    [
                        (w.reference, " / ".join(w.labels[:3]), q)
                        for w, q in zip(shown_waiting, quantities, strict=True)
                    ],
                )
            )
        extra = list(self.notes)
        if self.export_path:
            extra.append(
                f"Export: {self.export_rows} {self.export_word} written to {self.export_path}"
            )
        parts += [""] + [f"- {_cell(line)}" for line in extra]
        return "\n".join(parts).strip() + "\n"

    def files_markdown(self, limit: int | None = None) -> str:
        """One row per file, the columns a person reads first on the left."""
        rows = [
            (
                f.file,
                FILE_STATUS_WORDS[f.status],
                f.lines_applied,
                f.lines_rejected,
                f.error_file or "",
                f.note,
                f.lines_held,
                f.archived_to or "",
                f.location,
            )
            for f in self.files[:limit]
        ]
        table = markdown_table(FILE_COLUMNS, rows)
        if limit is not None and len(self.files) > limit:
            table += f"\n\n{len(self.files) - limit} more file(s): see `stockbridge history`"
        return table

    def headline(self) -> str:
        if self.state != "completed":
            return f"{self.store}: {self.state}: {self.message}"
        if self.headline_text and not self.files:
            return f"{self.store}: {self.headline_text}"
        parts = [
            f"{self.count('applied')} file(s) applied",
            f"{self.lines_applied} line(s) applied",
            f"{self.lines_rejected} rejected",
        ]
        if self.lines_held:
            parts.append(f"{self.lines_held} held")
        if self.waiting:
            parts.append(f"{len(self.waiting)} {self.waiting_word}")
        if self.count("duplicate"):
            parts.append(f"{self.count('duplicate')} duplicate file(s) skipped")
        if self.count("quarantined"):
            parts.append(f"{self.count('quarantined')} unreadable file(s) set aside")
        if self.count("recovered"):
            parts.append(f"{self.count('recovered')} file(s) from an interrupted run archived")
        return f"{self.store}: " + ", ".join(parts)

    def render(self, max_files: int = 100) -> str:
        """The text the CLI prints after a run (the first ``max_files`` files in detail)."""
        lines = [self.headline()]
        for f in self.files[:max_files]:
            detail = f"{f.lines_applied} applied, {f.lines_rejected} rejected"
            if f.lines_held:
                detail += f", {f.lines_held} held"
            lines.append(f"  {f.status:<11} {f.file}: {detail}")
            if f.archived_to:
                lines.append(f"              archived to {f.archived_to}")
            if f.error_file:
                lines.append(f"              rejected lines in {f.error_file}")
            if f.note:
                lines.append(f"              {f.note}")
        if len(self.files) > max_files:
            lines.append(f"  ... and {len(self.files) - max_files} more file(s): see the ledger")
        for reason, count in self.reject_reasons.most_common():
            lines.append(f"  rejected x{count}: {reason}")
        if self.new_articles:
            lines.append(f"  {self.new_articles} new article(s) opened from the article file")
        if self.catalogue_rejects:
            lines.append(f"  {self.catalogue_rejects} line(s) of the article file were ignored")
        if self.negative:
            shown = ", ".join(
                f"{ref} ({qty})"
                for ref, qty in zip(
                    list(self.negative)[:10],
                    format_quantities(list(self.negative.values())[:10]).to_pylist(),
                    strict=True,
                )
            )
            more = f" and {len(self.negative) - 10} more" if len(self.negative) > 10 else ""
            lines.append(f"  negative stock on {len(self.negative)} article(s): {shown}{more}")
        lines.extend(f"  {note}" for note in self.notes)
        if self.waiting:
            lines.append(f"  {len(self.waiting)} {self.waiting_word}:")
            quantities = format_quantities([w.quantity for w in self.waiting[:max_files]])
            for waiting, quantity in zip(
                self.waiting[:max_files], quantities.to_pylist(), strict=True
            ):
                labels = " / ".join(waiting.labels[:3])
                lines.append(f"    {waiting.reference:<16} {labels}  ({quantity} waiting)")
        if self.export_path:
            lines.append(
                f"  export: {self.export_rows} {self.export_word} written to {self.export_path}"
            )
        return "\n".join(lines)
