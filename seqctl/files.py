"""Reading the operator's input files (and writing the CSV an export asks for), with one
clear error when that fails."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator

from seqctl.errors import InvalidInput


def read_input(name: str, *, encoding: str = "utf-8", max_bytes: int = 64 * 1024 * 1024) -> str:
    """The file's text; InvalidInput naming the file when it is missing, unreadable, not
    text in `encoding` or larger than `max_bytes`."""
    try:
        with open(name, "rb") as file:
            data = file.read(max_bytes + 1)
    except FileNotFoundError:
        raise InvalidInput(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{name}: is a folder, not a file") from None
    except OSError as exc:
        raise InvalidInput(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise InvalidInput(f"{name}: larger than {_size(max_bytes)}, the most seqctl reads from one file")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(f"{name}:{line}: not {encoding.removesuffix('-sig').upper()} text") from None


def _size(count: int) -> str:
    return f"{count // 2**30} GiB" if count >= 2**30 else f"{count // 2**20} MiB"


# Bounds for CSV input (README "Limits"). A cell past MAX_CSV_CELL is almost always a quote
# left open, which would swallow the rest of the file into one cell: the file is refused
# at the line where that cell began.
MAX_CSV_BYTES = 1024 * 1024 * 1024
MAX_CSV_CELL = 64 * 1024
_DELIMITERS = (",", ";", "\t")


def read_csv_records(name: str) -> Iterator[tuple[int, list[str]]]:
    """The file's records as (line where the record starts, cells), parsed as CSV
    (RFC 4180 quoting, cells over several lines kept whole, a UTF-8 BOM dropped; the
    delimiter is the header line's `,`, `;` or tab). InvalidInput with file:line when the
    file cannot be read as CSV."""
    text = read_input(name, encoding="utf-8-sig", max_bytes=MAX_CSV_BYTES)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InvalidInput(f"{name}:{line}: a NUL byte: this is not a text CSV file")
    header = text.split("\n", 1)[0]
    delimiter = max(_DELIMITERS, key=lambda d: (header.count(d), d == ","))
    limit = csv.field_size_limit()
    csv.field_size_limit(MAX_CSV_CELL)
    # newline="" hands line endings to the csv module, which splits records only on \r and
    # \n outside quotes (str.splitlines would also split on U+2028, \x85 and inside cells).
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        start = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                reason = (
                    f"a cell is larger than {MAX_CSV_CELL // 1024} KiB (a quote left open?)"
                    if "field larger" in str(exc)
                    else f"not valid CSV ({exc})"
                )
                raise InvalidInput(f"{name}:{start}: {reason}") from None
            yield start, cells
            start = reader.line_num + 1
    finally:
        csv.field_size_limit(limit)


def normalise_header(name: str) -> str:
    """A CRM's column name as a field name: `First Name`, `first-name` → `first_name`;
    `E-mail`, `Email Address` → `email`."""
    field = re.sub(r"[\s\-./]+", "_", name.strip().lower()).strip("_")
    return "email" if field in ("e_mail", "email_address", "e_mail_address", "mail") else field


def write_new_csv(name: str, rows: Iterable[list[str]]) -> None:
    """Write rows (the header first) to a file that must not exist yet: an export never
    overwrites anything."""
    try:
        with open(name, "x", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows(rows)
    except FileExistsError:
        raise InvalidInput(f"{name}: already exists (an export does not overwrite files)") from None
    except OSError as exc:
        raise InvalidInput(f"{name}: cannot write it: {exc.strerror or exc}") from None
