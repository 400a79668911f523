"""What a run did, in one object: printed by the CLI, stored in the ledger, shown in Prefect."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from stockbridge.movements import format_quantities

FileStatus = Literal["applied", "duplicate", "recovered", "quarantined"]


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

    def file_records(self, limit: int | None = None) -> list[dict[str, object]]:
        """Plain values only: Prefect's table artifacts refuse other types."""
        return [dict(vars(f)) for f in self.files[:limit]]

    def headline(self) -> str:
        if self.state != "completed":
            return f"{self.store}: {self.state}: {self.message}"
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
