"""The reference catalog: every work bundled in the music21 corpus, with its in-band metadata and rights.

Pure and Django-free: `survey(corpus_root, as_of_year=...)` walks the corpus in sorted path order and
yields one `CorpusWork` per music file (an ABC file with many tunes is one work), reading the file with
`inband.read`, adding the licence files of its directories (`license.txt` at the corpus root,
`essenFolksong/license.txt`), and classifying its rights with `rights_statements.classify`. Catalog
ingestion turns works into rows; this module writes nothing.

What the files do not say about authorship is supplied here, per top-level directory (`COLLECTIONS`):
the composer of single-composer directories whose files do not name one (the Haydn quartets), the era,
and the dated source of traditional and anonymous repertories (Ryan's Mammoth Collection, 1883; the
trecento manuscripts ...). Paths never reach the classifier; only these facts do.

Skipped: `__pycache__`, `_metadataCache`, Python sources, images and Photoshop files, licence texts
(they are statements, not works), and Finale files -- `.mus` is the proprietary ENIGMA binary format and
`.musx` a zip around an encrypted score; each exists beside a MusicXML export of the same piece.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from licensing import inband
from licensing.inband import Creator, Format, InbandMetadata, RightsStatement
from licensing.rights_statements import (
    RightsFinding,
    SourceCollection,
    canonical_composer,
    classify,
    composer_death_year,
    is_anonymous,
)
from licensing.terms import normalize_name

PERIODS = ("medieval", "renaissance", "baroque", "classical", "romantic", "modern", "folk")
AUTHOR_ROLES = frozenset({"composer", "lyricist", "poet", "librettist", "words", "writer"})
SKIPPED_DIRECTORIES = frozenset({"__pycache__", "_metadataCache"})
SKIPPED_SUFFIXES = frozenset({
    ".py", ".pyc", ".png", ".jpg", ".jpeg", ".gif", ".psd", ".pdf", ".gz", ".p", ".mus", ".musx",
})


@dataclass(frozen=True)
class Collection:
    """What we know of a top-level corpus directory beyond what its files say."""

    period: str | None = None
    composer: str | None = None  # canonical composer of files that name none
    source: SourceCollection | None = None  # covers authors without a known death year


COLLECTIONS: dict[str, Collection] = {
    "airdsAirs": Collection("folk", source=SourceCollection(
        "Aird's Selection of Scotch, English, Irish and Foreign Airs (Glasgow, 6 vols., 1778-1803)", 1803)),
    "bach": Collection("baroque", "Johann Sebastian Bach"),
    "beach": Collection("romantic", "Amy Beach"),
    "beethoven": Collection("classical", "Ludwig van Beethoven"),
    "chopin": Collection("romantic", "Frédéric Chopin"),
    "ciconia": Collection("medieval", "Johannes Ciconia"),
    "corelli": Collection("baroque", "Arcangelo Corelli"),
    "cpebach": Collection("classical", "Carl Philipp Emanuel Bach"),
    "demos": Collection(),
    "essenFolksong": Collection("folk", source=SourceCollection(
        "The Essen Folksong Collection (folk songs from oral tradition)", None)),
    "handel": Collection("baroque", "George Frideric Handel"),
    "haydn": Collection("classical", "Joseph Haydn"),
    "johnson_j_r": Collection("modern", "J. Rosamond Johnson"),
    "joplin": Collection("modern", "Scott Joplin"),
    "josquin": Collection("renaissance", "Josquin des Prez"),
    "leadSheet": Collection(),
    "liliuokalani": Collection("romantic", "Liliuokalani"),
    "luca": Collection("medieval", source=SourceCollection("The manuscript Bologna Q15 (c. 1420-1435)", 1435)),
    "lusitano": Collection("renaissance", "Vicente Lusitano"),
    "miscFolk": Collection("folk", source=SourceCollection(
        "Bruce and Stokoe, Northumbrian Minstrelsy (1882), and colonial and Civil War fife tunebooks", 1882)),
    # Books 3-5 of the madrigals (1592-1605); the source covers the poets, whose names the OCR mangled.
    "monteverdi": Collection("renaissance", "Claudio Monteverdi", SourceCollection(
        "Monteverdi's third to fifth books of madrigals (Venice, 1592-1605)", 1605)),
    "mozart": Collection("classical", "Wolfgang Amadeus Mozart"),
    "nottingham-dataset": Collection("folk", source=SourceCollection(
        "The Nottingham Music Database (traditional dance tunes)", None)),
    "oneills1850": Collection("folk", source=SourceCollection(
        "O'Neill's Music of Ireland: 1850 Melodies (Chicago, 1903)", 1903)),
    "palestrina": Collection("renaissance", "Giovanni Pierluigi da Palestrina"),
    "ryansMammoth": Collection("folk", source=SourceCollection("Ryan's Mammoth Collection (Boston, 1883)", 1883)),
    "schoenberg": Collection("modern", "Arnold Schoenberg"),
    "schubert": Collection("romantic", "Franz Schubert"),
    "schumann_clara": Collection("romantic", "Clara Schumann"),
    "schumann_robert": Collection("romantic", "Robert Schumann"),
    "theoryExercises": Collection(),
    "trecento": Collection("medieval", source=SourceCollection(
        "The fourteenth- and early fifteenth-century manuscripts edited in Polyphonic Music of the "
        "Fourteenth Century", 1420)),
    "verdi": Collection("romantic", "Giuseppe Verdi"),
    "weber": Collection("romantic", "Carl Maria von Weber"),
    "webern": Collection("modern", "Anton Webern"),
}

# Era of each composer in `rights_statements` (poets and lyricists have none).
COMPOSER_PERIODS: dict[str, str] = {
    "Guillaume de Machaut": "medieval", "Philippe de Vitry": "medieval", "Gherardello da Firenze": "medieval",
    "Lorenzo da Firenze": "medieval", "Jacopo da Bologna": "medieval", "Francesco Landini": "medieval",
    "Johannes Ciconia": "medieval", "Josquin des Prez": "renaissance", "Vicente Lusitano": "renaissance",
    "Giovanni Pierluigi da Palestrina": "renaissance", "Claudio Monteverdi": "renaissance",
    "Arcangelo Corelli": "baroque", "Turlough O'Carolan": "baroque", "Johann Sebastian Bach": "baroque",
    "George Frideric Handel": "baroque", "Carl Philipp Emanuel Bach": "classical",
    "Wolfgang Amadeus Mozart": "classical", "Joseph Haydn": "classical", "Ludwig van Beethoven": "classical",
    "Carl Maria von Weber": "romantic", "Franz Schubert": "romantic", "Frédéric Chopin": "romantic",
    "Robert Schumann": "romantic", "Stephen Foster": "romantic", "Clara Schumann": "romantic",
    "Giuseppe Verdi": "romantic", "Liliuokalani": "romantic", "Amy Beach": "romantic",
    "Scott Joplin": "modern", "Anton Webern": "modern", "Arnold Schoenberg": "modern",
    "J. Rosamond Johnson": "modern", "Irving Berlin": "modern",
}


@dataclass(frozen=True)
class CorpusWork:
    """One file of the corpus as a catalog work: where it is, what it says, and what its rights allow."""

    relative_path: str
    format: Format
    title: str
    creators: tuple[Creator, ...]
    style_tags: dict[str, list[str]] = field(hash=False)  # composer, period, genre, origin, style, collection
    finding: RightsFinding
    metadata: InbandMetadata


@dataclass(frozen=True)
class Authorship:
    """What `classify` needs about the composition's authors, and the canonical composers found."""

    death_year: int | None
    collection: SourceCollection | None
    composers: tuple[str, ...]


def music21_corpus_root() -> Path:
    """The corpus directory of the installed music21 package, located without importing music21."""
    spec = importlib.util.find_spec("music21")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("music21 is not installed")
    return Path(spec.origin).parent / "corpus"


def survey(corpus_root: Path, *, as_of_year: int) -> Iterator[CorpusWork]:
    """Every work of the corpus in sorted path order, with metadata, style tags and a rights finding."""
    licences: dict[Path, tuple[RightsStatement, ...]] = {}
    for path in _work_paths(corpus_root):
        if path.parent not in licences:
            licences[path.parent] = inband.license_file_statements(path, corpus_root)
        yield _work(path, corpus_root, licences[path.parent], as_of_year)


def _work_paths(root: Path) -> list[Path]:
    paths = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part in SKIPPED_DIRECTORIES or part.startswith(".") for part in relative.parts):
            continue
        if not path.is_file() or path.suffix.lower() in SKIPPED_SUFFIXES:
            continue
        if path.name.lower() in inband.LICENSE_FILE_NAMES:
            continue
        paths.append(path)
    return sorted(paths, key=lambda p: p.relative_to(root).as_posix())


def _work(path: Path, root: Path, licences: tuple[RightsStatement, ...], as_of_year: int) -> CorpusWork:
    relative = path.relative_to(root).as_posix()
    top = relative.split("/", 1)[0] if "/" in relative else ""
    collection = COLLECTIONS.get(top, Collection())
    try:
        metadata = inband.read(path.read_bytes(), filename=path.name)
        reading_error = None
    except inband.InbandError as exc:
        metadata = InbandMetadata(format="other", fields={"error": [f"{exc.code}: {exc.message}"]})
        reading_error = f"The file could not be read ({exc.code}: {exc.message}); only licence files apply."
    authorship = authorship_of(metadata, collection)
    finding = classify((*metadata.statements, *licences), composer_death_year=authorship.death_year,
                       as_of_year=as_of_year, collection=authorship.collection)
    if reading_error:
        finding = _with_reason(finding, reading_error)
    return CorpusWork(
        relative_path=relative,
        format=metadata.format,
        title=_title(metadata, path),
        creators=metadata.creators,
        style_tags=_style_tags(metadata, collection, authorship, top),
        finding=finding,
        metadata=metadata,
    )


def authorship_of(metadata: InbandMetadata, collection: Collection) -> Authorship:
    """Latest known death year of the composition's authors and, when some author's death year is unknown,
    the collection that covers them (None for both when nothing accounts for every author)."""
    authors = [c for c in metadata.creators if c.role in AUTHOR_ROLES and c.name.strip()]
    # A single-composer directory's composer is an author of every file in it, whatever the file credits
    # (the Monteverdi files credit their poets, in the composer slot, through OCR).
    if collection.composer and all(canonical_composer(a.name) != collection.composer for a in authors):
        authors.append(Creator(collection.composer, "composer"))
    known: list[int] = []
    unresolved = not authors
    composers: list[str] = []
    stated_death = metadata.composer_dates[1]
    first_composer = next((a for a in authors if a.role == "composer"), None)
    for author in authors:
        canonical = None if is_anonymous(author.name) else canonical_composer(author.name)
        if canonical in COMPOSER_PERIODS and author.role == "composer" and canonical not in composers:
            composers.append(canonical)
        year = stated_death if author is first_composer and stated_death else None
        year = year or (None if is_anonymous(author.name) else composer_death_year(author.name))
        if year is None:
            unresolved = True
        else:
            known.append(year)
    if not unresolved:
        return Authorship(max(known), None, tuple(composers))
    if collection.source is None:
        return Authorship(None, None, tuple(composers))
    return Authorship(max(known) if known else None, collection.source, tuple(composers))


def _title(metadata: InbandMetadata, path: Path) -> str:
    title = metadata.title or path.stem
    tunes = int((metadata.fields.get("tunes") or ["1"])[0])
    if metadata.format == "abc" and tunes > 1:
        return f"{title} and {tunes - 1} other tune{'s' if tunes > 2 else ''}"
    return title


_PERIOD_WORDS = re.compile(r"\b(" + "|".join(PERIODS) + r")\b", re.IGNORECASE)


def _style_tags(metadata: InbandMetadata, collection: Collection, authorship: Authorship,
                top: str) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {}
    if authorship.composers:
        tags["composer"] = [normalize_name(c) for c in authorship.composers]
    elif any(is_anonymous(c.name) for c in metadata.creators if c.role == "composer"):
        tags["composer"] = ["anonymous"]
    elif collection.period == "folk":
        tags["composer"] = ["traditional"]

    stated = [m.group(1).lower() for value in metadata.style_hints.get("style", [])
              for m in _PERIOD_WORDS.finditer(value)]
    composer_periods = [COMPOSER_PERIODS[c] for c in authorship.composers if c in COMPOSER_PERIODS]
    period = stated or composer_periods or ([collection.period] if collection.period else [])
    if period:
        tags["period"] = [period[0]]
    for hint in ("genre", "origin", "style", "form"):
        values = list(dict.fromkeys(v for v in metadata.style_hints.get(hint, []) if v))
        if values:
            tags[hint] = values
    if top:
        tags["collection"] = [top]
    return tags


def _with_reason(finding: RightsFinding, reason: str) -> RightsFinding:
    return replace(finding, reasons=(reason, *finding.reasons))
