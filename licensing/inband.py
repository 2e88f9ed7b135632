"""Rights and descriptive metadata read in-band from symbolic music files.

Pure and Django-free: `read(data, filename=...)` takes the bytes of one file and returns what the file says
about itself -- title, creators, composer dates, style hints, every rights statement verbatim, and all raw
reference fields -- without deciding anything. Deciding what the statements allow is `rights_statements`.

Formats and where each keeps its rights:

- Humdrum (.krn, .hum): reference records `!!!KEY: value` (Humdrum Toolkit, "Reference Records"); rights
  are YEC (copyright) and YEM (copyright message; a multi-line message repeats the key). Files may be
  Latin-1 (some of the Palestrina masses are): UTF-8 is tried first, then Latin-1, which cannot fail.
- ABC (.abc, one file may hold many tunes): information fields `T:`, `C:`, `O:`, `R:` ... of the file
  header and of the first tune (abc standard 2.1, section 3); rights live in `%` comment blocks (the GPL
  notice of the Josquin files) and occasionally in fields.
- MusicXML (.xml, .musicxml) and compressed MusicXML (.mxl, a zip whose `META-INF/container.xml` names the
  root file): `<identification>` (`<creator type>`, `<rights>`, `<encoding>`, `<source>`, miscellaneous
  fields), `<work-title>`, `<movement-title>` and `<credit-words>` (the notices printed on the page).
  Documents declaring entities are refused (entity expansion is the billion-laughs vector); expat does not
  fetch external DTDs, so a DOCTYPE is harmless. Only the score header is parsed: it precedes `<part-list>`.
- Standard MIDI Files (.mid, .midi): meta events 0x01 text, 0x02 copyright, 0x03 track name, 0x04
  instrument (SMF 1.0 specification), parsed here with running status; a truncated file is an
  `InbandError`, never an IndexError.
- RomanText (.rntxt): header lines `Composer:`, `Title:`, `Analyst:`, `Proofreader:` ... (Tymoczko et al.).

Anything else reads as empty metadata with format "other". Malformed input raises `InbandError`, whose
`code` is stable (`truncated_midi`, `xml_entities`, ...).

`directory_license_files` and `license_file_statements` find the licence files (`license.txt`, `LICENSE`,
`COPYING` ...) that apply to a file, nearest directory first up to the collection root; their texts become
statements with source `license_file:<path relative to the root>`.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

Format = Literal["humdrum", "abc", "musicxml", "midi", "romantext", "other"]

# Largest member of an .mxl archive we will inflate: far above any real score, far below a zip bomb.
MAX_MXL_MEMBER_BYTES = 64 * 1024 * 1024

# Words that make a comment, a credit or a MIDI text event a rights statement.
RIGHTS_WORDS = re.compile(
    r"copyright|\(c\)|©|licen[cs]e|public\s+domain|rights\s+reserved|creative\s+commons|\bcc[-\s]?(?:by|0)\b"
    r"|\bgnu\b|\bgpl\b",
    re.IGNORECASE,
)

LICENSE_FILE_NAMES = frozenset({"license", "license.txt", "licence", "licence.txt", "copying", "copying.txt"})


class InbandError(ValueError):
    """A file could not be read as the format its name or content claims; `code` is stable."""

    def __init__(self, code: str, message: str, *, filename: str) -> None:
        super().__init__(f"{filename}: {message}")
        self.code = code
        self.message = message
        self.filename = filename


@dataclass(frozen=True)
class Creator:
    """A person or body credited in the file, with the role the file gives (composer, lyricist, encoder ...)."""

    name: str
    role: str


@dataclass(frozen=True)
class RightsStatement:
    """One rights statement verbatim, with where it was found ("humdrum:YEC", "license_file:x/license.txt")."""

    source: str
    text: str


@dataclass(frozen=True)
class InbandMetadata:
    """What one file says about itself, undecided: descriptive metadata, rights statements, raw fields."""

    format: Format
    title: str | None = None
    creators: tuple[Creator, ...] = ()
    composer_dates: tuple[int | None, int | None] = (None, None)  # (birth, death) years where stated
    statements: tuple[RightsStatement, ...] = ()
    style_hints: dict[str, list[str]] = field(default_factory=dict, hash=False)  # style, genre, origin, form
    fields: dict[str, list[str]] = field(default_factory=dict, hash=False)  # every raw field, verbatim, in order


# --- dispatch -----------------------------------------------------------------------------------------------


def read(data: bytes, *, filename: str) -> InbandMetadata:
    """In-band metadata of one file, dispatched on its extension and, failing that, on its content."""
    fmt = _format_of(data, filename)
    if fmt == "humdrum":
        return _read_humdrum(decode_text(data))
    if fmt == "abc":
        return _read_abc(decode_text(data))
    if fmt == "musicxml":
        return _read_musicxml(data, filename)
    if fmt == "midi":
        return _read_midi(data, filename)
    if fmt == "romantext":
        return _read_romantext(decode_text(data))
    return InbandMetadata(format="other")


_EXTENSIONS: dict[str, Format] = {
    ".krn": "humdrum",
    ".hum": "humdrum",
    ".abc": "abc",
    ".xml": "musicxml",
    ".musicxml": "musicxml",
    ".mxl": "musicxml",
    ".mid": "midi",
    ".midi": "midi",
    ".rntxt": "romantext",
    ".rntext": "romantext",
}


def _format_of(data: bytes, filename: str) -> Format:
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if suffix in _EXTENSIONS:
        fmt = _EXTENSIONS[suffix]
        if suffix == ".xml" and not _looks_like_musicxml(data[:4096]):
            return "other"
        return fmt
    head = data[:4096]
    if head.startswith(b"MThd"):
        return "midi"
    if _looks_like_musicxml(head):
        return "musicxml"
    if head.startswith((b"!!!", b"**")):
        return "humdrum"
    if re.search(rb"(?m)^X:\s*\d", head):
        return "abc"
    return "other"


def _looks_like_musicxml(head: bytes) -> bool:
    for encoding in ("utf-8", "utf-16"):
        text = head.decode(encoding, errors="ignore")
        if "score-partwise" in text or "score-timewise" in text:
            return True
    return False


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM tolerated), else Latin-1 -- which maps every byte, so decoding never fails."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _add(fields: dict[str, list[str]], key: str, value: str) -> None:
    fields.setdefault(key, []).append(value)


# --- Humdrum ------------------------------------------------------------------------------------------------

_HUMDRUM_REFERENCE = re.compile(r"^!!!\s*([^:!][^:]*?)\s*:\s?(.*)$")

# Reference keys naming people, and the role each gives (Humdrum reference records, "Authorship" and
# "Electronic edition" groups).
_HUMDRUM_ROLES = {
    "COM": "composer",
    "COA": "composer",  # attributed composer
    "COS": "composer",  # suspected composer
    "LYR": "lyricist",
    "LIB": "librettist",
    "ARR": "arranger",
    "ORC": "orchestrator",
    "TRN": "translator",
    "ENC": "encoder",
    "EED": "editor",
}
_HUMDRUM_STYLE = {"AST": "style", "AGN": "genre", "AFR": "form", "OCY": "origin", "ARE": "origin"}
_HUMDRUM_RIGHTS = ("YEC", "YEM")


def _read_humdrum(text: str) -> InbandMetadata:
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.startswith("!!!"):
            continue
        match = _HUMDRUM_REFERENCE.match(line.rstrip())
        if match:
            _add(fields, match.group(1), match.group(2).strip())

    creators = tuple(
        Creator(value, role)
        for key, role in _HUMDRUM_ROLES.items()
        for value in fields.get(key, [])
        if value
    )
    statements: list[RightsStatement] = [RightsStatement("humdrum:YEC", v) for v in fields.get("YEC", [])]
    if fields.get("YEM"):
        # One copyright message written over several YEM records: one statement, lines in file order.
        statements.append(RightsStatement("humdrum:YEM", "\n".join(fields["YEM"])))

    title = _first(fields, "OTL")
    parent = _first(fields, "OPR")
    if title and parent and parent != title:
        title = f"{parent}: {title}"
    elif parent and not title:
        title = parent

    style: dict[str, list[str]] = {}
    for key, hint in _HUMDRUM_STYLE.items():
        for value in fields.get(key, []):
            if value:
                style.setdefault(hint, []).append(value)

    cdt = _first(fields, "CDT")
    return InbandMetadata(
        format="humdrum",
        title=title,
        creators=creators,
        composer_dates=parse_humdrum_dates(cdt) if cdt else (None, None),
        statements=tuple(statements),
        style_hints=style,
        fields=fields,
    )


def _first(fields: dict[str, list[str]], key: str) -> str | None:
    for value in fields.get(key, []):
        if value.strip():
            return value.strip()
    return None


_YEAR_IN_DATE = re.compile(r"(\d{3,4})")


def parse_humdrum_dates(value: str) -> tuple[int | None, int | None]:
    """(birth, death) years of a Humdrum CDT value: "1525/^1526/-1594/2/2" -> (1525, 1594).

    A date is year/month/day/...; `-` separates the two ends of the range, `^` separates alternatives
    ("1525 or 1526": the earliest is kept for birth, the latest for death -- the later death is the
    conservative one for copyright), and the qualifiers `~ ? < >` (approximate, uncertain, before, after)
    are dropped: the year stays.
    """
    birth_part, sep, death_part = value.partition("-")
    if not sep:
        return (_alternative_years(birth_part, latest=False), None)
    return (_alternative_years(birth_part, latest=False), _alternative_years(death_part, latest=True))


def _alternative_years(part: str, *, latest: bool) -> int | None:
    years = []
    for alternative in part.split("^"):
        first_component = alternative.strip().split("/")[0]
        match = _YEAR_IN_DATE.search(first_component)
        if match:
            years.append(int(match.group(1)))
    if not years:
        return None
    return max(years) if latest else min(years)


# --- ABC ----------------------------------------------------------------------------------------------------

_ABC_FIELD = re.compile(r"^([A-Za-z]):(.*)$")
_ABC_ROLES = {"C": "composer", "Z": "transcriber"}
_ABC_STYLE = {"R": "genre", "O": "origin"}


def _read_abc(text: str) -> InbandMetadata:
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("X:")]
    header = lines[: starts[0]] if starts else lines
    fields: dict[str, list[str]] = {}
    header_fields = _abc_fields(header, stop_at_key=False)
    first_tune = _abc_fields(lines[starts[0] :], stop_at_key=True) if starts else []
    for key, value in (*header_fields, *first_tune):
        if value:
            _add(fields, key, value)
    if starts:
        fields["tunes"] = [str(len(starts))]
        fields["tune_titles"] = [title for title in (_abc_tune_title(lines, s) for s in starts) if title]

    header_title = next((v for k, v in header_fields if k == "T" and v), None)
    tune_title = next((v for k, v in first_tune if k == "T" and v), None)
    creators = tuple(
        Creator(value, _ABC_ROLES[key]) for key, value in (*header_fields, *first_tune) if key in _ABC_ROLES and value
    )
    style: dict[str, list[str]] = {}
    for key, value in (*header_fields, *first_tune):
        if key in _ABC_STYLE and value:
            style.setdefault(_ABC_STYLE[key], []).append(value)

    statements: list[RightsStatement] = []
    seen: set[str] = set()
    for block in _abc_comment_blocks(lines):
        if RIGHTS_WORDS.search(block) and block not in seen:
            seen.add(block)
            statements.append(RightsStatement("abc:comment", block))
    for key, value in (*header_fields, *first_tune):
        if key in "NZHBS" and RIGHTS_WORDS.search(value) and value not in seen:
            seen.add(value)
            statements.append(RightsStatement(f"abc:{key}", value))

    return InbandMetadata(
        format="abc",
        title=header_title or tune_title,
        creators=creators,
        statements=tuple(statements),
        style_hints=style,
        fields=fields,
    )


def _abc_fields(lines: list[str], *, stop_at_key: bool) -> list[tuple[str, str]]:
    """Information fields of a file header, or of a tune header (which ends at its K: field)."""
    found: list[tuple[str, str]] = []
    for index, line in enumerate(lines):
        if stop_at_key and index > 0 and (not line.strip() or line.startswith("X:")):
            break
        match = _ABC_FIELD.match(line)
        if match:
            found.append((match.group(1), match.group(2).strip()))
            if stop_at_key and match.group(1) == "K":
                break
    return found


def _abc_tune_title(lines: list[str], start: int) -> str | None:
    for line in lines[start + 1 : start + 40]:
        if line.startswith("T:"):
            return line[2:].strip() or None
        if line.startswith("K:") or not line.strip():
            return None
    return None


def _abc_comment_blocks(lines: list[str]) -> list[str]:
    """Contiguous `%` comment blocks (stylesheet `%%` directives excluded); blank lines between comment
    lines do not end a block, so a licence notice set in paragraphs stays one statement."""
    blocks: list[str] = []
    current: list[str] = []
    pending_blank = 0
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("%") and not stripped.startswith("%%"):
            if current:
                current.extend([""] * pending_blank)
            current.append(line.rstrip())
            pending_blank = 0
        elif not stripped and current:
            pending_blank += 1
        else:
            if current:
                blocks.append("\n".join(current))
            current, pending_blank = [], 0
    if current:
        blocks.append("\n".join(current))
    return blocks


# --- MusicXML -----------------------------------------------------------------------------------------------

_ENTITY_DECLARATIONS = (b"<!ENTITY", "<!ENTITY".encode("utf-16-le"), "<!ENTITY".encode("utf-16-be"))
_LIFE_DATES = re.compile(r"\(\s*(\d{3,4})\s*[-\u2013]\s*(\d{3,4})\s*\)")


def _read_musicxml(data: bytes, filename: str) -> InbandMetadata:
    if filename.lower().endswith(".mxl") or data.startswith(b"PK\x03\x04"):
        data = _mxl_root(data, filename)
    root_tag, header = _parse_score_header(data, filename)
    if not root_tag.startswith("score-"):
        return InbandMetadata(format="other", fields={"root": [root_tag]})

    fields: dict[str, list[str]] = {}
    creators: list[Creator] = []
    statements: list[RightsStatement] = []
    style: dict[str, list[str]] = {}
    composer_dates: tuple[int | None, int | None] = (None, None)
    credit_words: list[tuple[int, str, bool]] = []  # (credit index, text, is a rights credit by type)

    for path, element in header:
        text = (element.text or "").strip()
        tag = path[-1]
        if path == ("work", "work-title") or path == ("work", "work-number"):
            _add(fields, tag, text)
        elif path in (("movement-title",), ("movement-number",)):
            _add(fields, tag, text)
        elif path == ("identification", "creator"):
            role = element.get("type") or "creator"
            _add(fields, f"creator:{role}", text)
            if text:
                creators.append(Creator(text, role))
                dates = _LIFE_DATES.search(text)
                if role == "composer" and dates and composer_dates == (None, None):
                    composer_dates = (int(dates.group(1)), int(dates.group(2)))
        elif path == ("identification", "rights"):
            kind = element.get("type")
            _add(fields, f"rights:{kind}" if kind else "rights", text)
            statements.append(RightsStatement(f"musicxml:rights:{kind}" if kind else "musicxml:rights", text))
        elif path[:2] == ("identification", "encoding") and len(path) == 3 and text:
            _add(fields, f"encoding:{tag}", text)
            if tag == "encoder" and text:
                creators.append(Creator(text, "encoder"))
        elif path == ("identification", "source"):
            _add(fields, "source", text)
        elif path == ("identification", "miscellaneous", "miscellaneous-field"):
            name = element.get("name") or ""
            _add(fields, f"miscellaneous:{name}", text)
            if name.lower() in {"genre", "style", "period", "origin", "form"} and text:
                style.setdefault(name.lower(), []).append(text)
        elif path[0] == "credit" and tag == "credit-words":
            index = int(path[1])
            raw = (element.text or "").strip()
            _add(fields, "credit-words", raw)
            credit_words.append((index, raw, False))
        elif path[0] == "credit" and tag == "credit-type":
            _add(fields, "credit-type", text)
            if text == "rights":
                credit_words.append((int(path[1]), "", True))

    statements.extend(_credit_statements(credit_words, statements))

    work = _first(fields, "work-title")
    movement = _first(fields, "movement-title")
    title = f"{work}: {movement}" if work and movement and work != movement else (movement or work)
    return InbandMetadata(
        format="musicxml",
        title=title,
        creators=tuple(creators),
        composer_dates=composer_dates,
        statements=tuple(statements),
        style_hints=style,
        fields=fields,
    )


def _credit_statements(
    credit_words: list[tuple[int, str, bool]], rights: list[RightsStatement]
) -> list[RightsStatement]:
    """Printed notices: runs of adjacent credits that read as rights (or are typed `rights`), joined.

    A notice split over two credits ("Copyright © 1998 by Oliver Seely" / "and assigned to the public
    domain.") must stay one statement, or its first half would read as a bare reservation. Credits that
    repeat a `<rights>` text are dropped: the page and the header say the same thing once.
    """
    rights_credits = {index for index, _, typed in credit_words if typed}
    texts: dict[int, list[str]] = {}
    for index, text, typed in credit_words:
        if not typed and text:
            texts.setdefault(index, []).append(text)
            if RIGHTS_WORDS.search(text):
                rights_credits.add(index)
    known = {_squash(s.text) for s in rights}

    def repeats_rights(index: int) -> bool:
        squashed = _squash("\n".join(texts.get(index, [])))
        return any(squashed == k or (squashed and squashed in k) for k in known)

    runs: list[list[int]] = []
    for index in sorted(i for i in rights_credits if not repeats_rights(i)):
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    statements = []
    for run in runs:
        text = "\n".join(t for index in run for t in texts.get(index, []))
        squashed = _squash(text)
        if text and not any(squashed == k or (squashed and squashed in k) for k in known):
            known.add(squashed)
            statements.append(RightsStatement("musicxml:credit", text))
    return statements


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def _mxl_root(data: bytes, filename: str) -> bytes:
    """The root MusicXML document of a compressed .mxl archive (MusicXML 4.0, "Compressed MusicXML")."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        root_path = None
        if "META-INF/container.xml" in names:
            _, container = _parse_score_header(_member(archive, "META-INF/container.xml", filename), filename,
                                               header_only=False)
            for _, element in container:
                if element.tag.rsplit("}", 1)[-1] == "rootfile" and element.get("full-path"):
                    root_path = element.get("full-path")
                    break
        if root_path is None:
            candidates = [n for n in names if n.lower().endswith((".xml", ".musicxml")) and
                          not n.startswith("META-INF/")]
            if not candidates:
                raise InbandError("mxl_no_rootfile", "compressed MusicXML without a root file", filename=filename)
            root_path = candidates[0]
        return _member(archive, root_path, filename)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, OSError, zlib.error) as exc:
        # corrupt, encrypted, or compressed with a method zipfile cannot inflate
        raise InbandError("mxl_bad_zip", f"not a readable zip archive ({exc})", filename=filename) from None
    except KeyError as exc:
        raise InbandError("mxl_no_rootfile", f"root file missing from archive ({exc})", filename=filename) from None


def _member(archive: zipfile.ZipFile, name: str, filename: str) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > MAX_MXL_MEMBER_BYTES:
        raise InbandError("mxl_too_large", f"{name} inflates to {info.file_size} bytes", filename=filename)
    return archive.read(info)


def _parse_score_header(
    data: bytes, filename: str, *, header_only: bool = True
) -> tuple[str, list[tuple[tuple[str, ...], ET.Element]]]:
    """Root tag and (path below the root, element) pairs, in document order of their ends, parsed safely.

    With `header_only` parsing stops at `<part-list>` (or a stray `<part>`): identification and credits
    precede it (MusicXML score-header), so the notes of a 360 kB trecento score are never read. Each
    `<credit>` under the root gets its ordinal in the path -- ("credit", "3", "credit-words") -- so the
    words of one credit can be joined.
    """
    if any(marker in data for marker in _ENTITY_DECLARATIONS):
        raise InbandError("xml_entities", "XML entity declarations are refused", filename=filename)
    stack: list[str] = []  # path from the root's children down to the current element
    found: list[tuple[tuple[str, ...], ET.Element]] = []
    root_tag = ""
    credits = 0
    try:
        for event, element in ET.iterparse(io.BytesIO(data), events=("start", "end")):  # noqa: S314
            tag = element.tag.rsplit("}", 1)[-1]
            if not root_tag:
                root_tag = tag
                continue
            if event == "start":
                if header_only and not stack and tag in ("part-list", "part"):
                    break
                if not stack and tag == "credit":
                    stack.extend(("credit", str(credits)))
                    credits += 1
                else:
                    stack.append(tag)
            elif stack:
                found.append((tuple(stack), element))
                del stack[-2 if stack[:1] == ["credit"] and len(stack) == 2 else -1 :]
    except (ET.ParseError, LookupError) as exc:
        raise InbandError("xml_malformed", f"malformed XML ({exc})", filename=filename) from None
    if not root_tag:
        raise InbandError("xml_malformed", "empty XML document", filename=filename)
    return root_tag, found


# --- MIDI ---------------------------------------------------------------------------------------------------

_MIDI_META_NAMES = {0x01: "text", 0x02: "copyright", 0x03: "track_name", 0x04: "instrument"}
_MIDI_DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
_MIDI_CREDIT = re.compile(
    r"^\s*(composer|composed by|music by|words by|lyrics by|arranged by|arranger|sequenced by|transcribed by)"
    r"\s*:?\s*(.+)$",
    re.IGNORECASE,
)
_MIDI_CREDIT_ROLES = {
    "composer": "composer", "composed by": "composer", "music by": "composer", "words by": "lyricist",
    "lyrics by": "lyricist", "arranged by": "arranger", "arranger": "arranger", "sequenced by": "encoder",
    "transcribed by": "transcriber",
}


class _Cursor:
    """Bounds-checked reader over one chunk; running past the end is a `truncated_midi` error."""

    def __init__(self, data: bytes, filename: str, *, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end
        self.filename = filename

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > self.end:
            raise InbandError("truncated_midi", f"MIDI data ends inside an event at byte {self.pos}",
                              filename=self.filename)
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def vlq(self) -> int:
        """A variable-length quantity: 7 bits a byte, high bit set on all but the last, at most 4 bytes."""
        value = 0
        for _ in range(4):
            current = self.byte()
            value = (value << 7) | (current & 0x7F)
            if not current & 0x80:
                return value
        raise InbandError("malformed_midi", f"variable-length quantity longer than 4 bytes at {self.pos}",
                          filename=self.filename)


def _read_midi(data: bytes, filename: str) -> InbandMetadata:
    if not data.startswith(b"MThd"):
        raise InbandError("malformed_midi", "no MThd header chunk", filename=filename)
    cursor = _Cursor(data, filename)
    cursor.take(4)
    header_length = int.from_bytes(cursor.take(4), "big")
    if header_length < 6:
        raise InbandError("malformed_midi", f"MThd length {header_length} < 6", filename=filename)
    header = cursor.take(header_length)
    smf_format, track_count, division = (int.from_bytes(header[i : i + 2], "big") for i in (0, 2, 4))
    fields: dict[str, list[str]] = {"format": [str(smf_format)], "tracks": [str(track_count)],
                                    "division": [str(division)]}
    events: list[tuple[int, int, str]] = []  # (track, meta type, text)
    track = 0
    while cursor.pos < len(data):
        if len(data) - cursor.pos < 8 and not data[cursor.pos :].strip(b"\x00"):
            break  # zero padding after the last chunk, as some writers leave
        kind = cursor.take(4)
        length = int.from_bytes(cursor.take(4), "big")
        if cursor.pos + length > len(data):
            raise InbandError("truncated_midi", f"chunk {kind!r} declares {length} bytes, file ends sooner",
                              filename=filename)
        if kind == b"MTrk":
            events.extend((track, meta, text) for meta, text in _midi_track(data, cursor.pos, cursor.pos + length,
                                                                             filename))
            track += 1
        cursor.pos += length  # unknown chunk types are skipped, as the specification requires
    if track < track_count:
        raise InbandError("truncated_midi", f"header declares {track_count} tracks, file holds {track}",
                          filename=filename)

    title = next((text for t, meta, text in events if t == 0 and meta == 0x03 and text.strip()), None)
    creators: list[Creator] = []
    statements: list[RightsStatement] = []
    for _, meta, text in events:
        _add(fields, _MIDI_META_NAMES[meta], text)
        if meta == 0x02:
            statements.append(RightsStatement("midi:copyright", text))
        elif meta == 0x01:
            credit = _MIDI_CREDIT.match(text)
            if credit:
                creators.append(Creator(credit.group(2).strip(), _MIDI_CREDIT_ROLES[credit.group(1).lower()]))
            if RIGHTS_WORDS.search(text):
                statements.append(RightsStatement("midi:text", text))
    return InbandMetadata(format="midi", title=title.strip() if title else None, creators=tuple(creators),
                          statements=tuple(statements), fields=fields)


def _midi_track(data: bytes, start: int, end: int, filename: str) -> list[tuple[int, str]]:
    """(meta type, text) of the text-like meta events of one MTrk chunk, in order."""
    cursor = _Cursor(data, filename, start=start, end=end)
    found: list[tuple[int, str]] = []
    running: int | None = None
    while cursor.pos < end:
        cursor.vlq()  # delta time
        status = cursor.byte()
        if status == 0xFF:
            meta = cursor.byte()
            payload = cursor.take(cursor.vlq())
            running = None  # meta and sysex events cancel running status
            if meta in _MIDI_META_NAMES:
                found.append((meta, decode_text(payload).rstrip("\x00")))
            elif meta == 0x2F:
                break
        elif status in (0xF0, 0xF7):
            cursor.take(cursor.vlq())
            running = None
        elif status & 0x80:
            if status >= 0xF0:
                raise InbandError("malformed_midi", f"system message 0x{status:02X} inside a track",
                                  filename=filename)
            running = status
            cursor.take(_MIDI_DATA_BYTES[status & 0xF0])
        else:
            if running is None:
                raise InbandError("malformed_midi", f"data byte 0x{status:02X} without running status",
                                  filename=filename)
            cursor.take(_MIDI_DATA_BYTES[running & 0xF0] - 1)  # the status byte read was the first data byte
    return found


# --- RomanText ----------------------------------------------------------------------------------------------

_ROMANTEXT_HEADER = re.compile(r"^([A-Z][A-Za-z ]*?)\s*:\s*(.*)$")
_ROMANTEXT_ROLES = {"Composer": "composer", "Analyst": "analyst", "Proofreader": "proofreader",
                    "Lyricist": "lyricist", "Arranger": "arranger"}
_ROMANTEXT_RIGHTS = frozenset({"Copyright", "License", "Licence", "Rights"})


def _read_romantext(text: str) -> InbandMetadata:
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _ROMANTEXT_HEADER.match(line.strip())
        if match:
            _add(fields, match.group(1), match.group(2).strip())
    creators = tuple(
        Creator(value, role) for key, role in _ROMANTEXT_ROLES.items() for value in fields.get(key, []) if value
    )
    statements = tuple(
        RightsStatement(f"romantext:{key}", value) for key in fields if key in _ROMANTEXT_RIGHTS
        for value in fields[key]
    )
    style = {"genre": [v for v in fields.get("Form", []) if v]} if _first(fields, "Form") else {}
    return InbandMetadata(format="romantext", title=_first(fields, "Title"), creators=creators,
                          statements=statements, style_hints=style, fields=fields)


# --- licence files ------------------------------------------------------------------------------------------


def directory_license_files(path: Path, root: Path) -> list[tuple[str, str]]:
    """(path relative to `root`, text) of the licence files applying to `path`: its directory, then each
    parent up to and including `root`, nearest first; names matched case-insensitively."""
    directory = path if path.is_dir() else path.parent
    try:
        directory.relative_to(root)
    except ValueError:
        raise ValueError(f"{path} is not inside {root}") from None
    found: list[tuple[str, str]] = []
    while True:
        for entry in sorted(directory.iterdir(), key=lambda p: p.name):
            if entry.name.lower() in LICENSE_FILE_NAMES and entry.is_file():
                found.append((entry.relative_to(root).as_posix(), decode_text(entry.read_bytes())))
        if directory == root:
            return found
        directory = directory.parent


def license_file_statements(path: Path, root: Path) -> tuple[RightsStatement, ...]:
    """The licence files applying to `path` as statements with source `license_file:<relative path>`."""
    return tuple(RightsStatement(f"license_file:{rel}", text) for rel, text in directory_license_files(path, root))
