"""The cue planner: a director's scene description (plus optional explicit parameters) becomes a `CuePlan`.

Pure, deterministic and Django/torch-free: the same description, parameters and seed always give the same
plan, and every decision is written to `CuePlan.notes` so the UI and the model card can show *why*.

Reading the text (`read_scene`)
    The description is lower-cased, number words before time units are turned into digits ("ninety
    seconds" -> "90 seconds"), and it is split into word and punctuation tokens. Each word gets a crude
    suffix-stripping stem ("builds", "building" -> "build"; "eerily" -> "eeri"), and lexicons of stemmed
    words and phrases are matched longest-phrase-first. A negator ("not", "no", "never", "without",
    "...n't") negates the next three words of its clause, so "not happy" counts *against* its mood,
    "no brass" removes brass and "doesn't build" is no build. Regular expressions read durations
    ("a 45-second cue", "1:30", "2 minutes"), hit points ("the door opens at 0:42", "reveal at 42s"; the
    label is the clause before "at"), tempo ("at 72 bpm", "slow", "driving"), key ("in D minor"), meter
    ("waltz" -> 3/4) and key-change requests ("modulates", "lifts a step").

Emotion model (`MOODS`)
    A transparent lexicon model, not a classifier: each `Mood` lists trigger words and phrases, a
    valence/arousal point (Russell's circumplex; documentation only, for the UI), a tempo range, a
    preferred mode, an intensity level, a default orchestration (lead first), instruments added at high
    intensity, and a default dynamic arc. A mood's score is the sum of its matches (1 per word, 1.5 per
    multi-word phrase, negative when negated). The highest positive score wins; ties go to the mood
    matched earliest in the text, then to `MOODS` order. No positive score -> `DEFAULT_MOOD` ("reflective").

Structure
    The arc ("arch": intro/build/climax/release/outro, "rise", "burst", "fade", "steady", "gentle") comes
    from the order of arc words ("builds ... fades out" -> arch), else from the mood, or from the shape of
    an explicit intensity curve. A hit point whose label names an impact ("explosion", "reveal",
    "climax") becomes the climax downbeat. Arc parts carry intensity levels; the climax is held flat at
    the peak so it is always the loudest section.

Alignment (the part a film composer does with a click track)
    Hit points are hard boundaries. Each span between consecutive hits (and the final span to the
    requested end) gets a whole number of bars and one tempo within +-3 BPM of the target tempo such that
    the bars end exactly on the next hit (tempo = bars * beats_per_bar * 60 / span seconds). When no bar
    count fits inside the window, the hit goes on the nearest bar line the window reaches; a small beam
    search over bar counts may also land a hit as early or as late as the window allows when that lets
    the next hit land exactly ("split the bar count differently"), minimising first the hits more than a
    beat off, then the inexact hits, then the total error. Residuals are recorded in the notes (with a
    WARNING beyond one beat, which only happens when a fixed tempo or a hit in the first bar or two
    leaves no choice). When the text and parameters leave the tempo open, the target itself is chosen
    from the mood's (or tempo word's) range: the integer BPM that lands the hits best, then the one
    nearest the range's centre. Arc boundaries are then placed on the nearest bar line inside their span
    (at least two bars apart, the climax first); an arc boundary too close to a hit hands its name to
    the hit's section. So every section is whole bars, every hit is a section's first downbeat, every
    section's tempo is within 3 BPM of its target, and the cue ends within one bar of the requested
    duration (unless a hit sits in its last bar).

Key: `params.key` (and `params.mode`), else the text, else the mood's mode with a tonic picked from a set of
comfortable keys by CRC-32 of the mood name plus the seed. Sections modulate (climax onwards, up a step or
a semitone) only when the description asks. Explicit parameters always override what the text implies.
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from generation.engines.instruments import INSTRUMENTS
from generation.engines.score import MODES, CuePlan, HitPoint, Section, key_name

DURATION_RANGE = (10.0, 600.0)  # seconds
TEMPO_RANGE = (40.0, 200.0)  # BPM (quarter note)
TEMPO_TOLERANCE = 3.0  # BPM a section may move away from its target tempo to land a hit exactly
METERS = (3, 4)
DEFAULT_DURATION = 60.0
DEFAULT_MOOD = "reflective"
MAX_DESCRIPTION = 4000  # characters; a scene description, not a screenplay
MAX_HIT_POINTS = 100  # more than one every six seconds of the longest cue is a click track, not a plan
TARGET_TEMPO_NOTE = "target tempo (BPM per section): "

_EXACT = 0.005  # seconds: a hit closer than this to its request counts as exact
_TIE = 1e-9


class PlanError(ValueError):
    """A rejected planning request: stable `code`, a sentence users can act on, and the offending values."""

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


# --------------------------------------------------------------------------------------------------------
# Emotion model
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mood:
    """One emotion the planner can score for: its trigger lexicon and the music it implies."""

    name: str
    summary: str
    triggers: tuple[str, ...]  # words and phrases as a director writes them; matched by stem
    valence: float  # -1 unpleasant .. +1 pleasant
    arousal: float  # -1 calm .. +1 excited
    tempo: tuple[float, float]  # BPM range the target tempo is chosen from
    mode: str
    intensity: float  # 0..1, the arc's middle level
    instruments: tuple[str, ...]  # default orchestration, lead first, thinned from the end at low intensity
    tutti: tuple[str, ...] = ()  # added at high intensity
    arc: str = "gentle"  # dynamic shape when the text names none

    @property
    def preferred_tempo(self) -> float:
        """The centre of the tempo range (rounded to a whole BPM)."""
        return float(round((self.tempo[0] + self.tempo[1]) / 2))


_MOOD_LIST = (
    Mood("tense", "nervous, threatened, under pressure",
         ("tense", "tension", "tensions", "nervous", "anxious", "anxiety", "uneasy", "unease", "on edge",
          "standoff", "stand off", "threat", "threatening", "menace", "menacing", "danger", "dangerous",
          "pressure", "ticking clock", "countdown", "confrontation", "interrogation", "paranoia", "paranoid",
          "stress", "stressful", "taut", "jittery", "showdown", "hostage", "bomb", "panic"),
         -0.5, 0.7, (84, 112), "minor", 0.6,
         ("violins", "strings", "cellos", "contrabass", "synth_pad", "low_percussion"), ("brass", "timpani"),
         "rise"),
    Mood("suspense", "waiting for something to happen",
         ("suspense", "suspenseful", "creeping", "creeps", "sneak", "sneaking", "stealth", "stealthy",
          "hiding", "hide", "hides", "waiting", "anticipation", "lurking", "lurks", "stalking", "stalker",
          "tiptoe", "tiptoes", "holding breath", "holds her breath", "holds his breath", "something is wrong",
          "footsteps", "closer and closer", "approaching", "being watched", "peeks"),
         -0.4, 0.5, (60, 84), "minor", 0.45,
         ("cellos", "strings", "contrabass", "synth_pad", "piano", "timpani"), ("low_percussion",), "rise"),
    Mood("dark", "menace, evil, doom",
         ("dark", "darker", "darkest", "darkness", "grim", "sinister", "evil", "villain", "villains",
          "villainous", "brooding", "ominous", "ominously", "doom", "doomed", "foreboding", "malevolent",
          "malice", "shadow", "shadows", "shadowy", "cruel", "cruelty", "brutal", "bleak", "corrupt",
          "corruption", "underworld", "vengeance", "revenge", "murder", "murderer", "killer", "blood"),
         -0.7, 0.4, (56, 80), "minor", 0.55,
         ("cellos", "contrabass", "trombone", "synth_pad", "tuba", "low_percussion"), ("brass", "timpani"),
         "steady"),
    Mood("sad", "grief and loss",
         ("sad", "sadly", "sadness", "grief", "grieving", "grieves", "mourning", "mourn", "mourns", "funeral",
          "tears", "weeping", "weeps", "crying", "cries", "heartbreak", "heartbroken", "heartbreaking",
          "death", "deathbed", "passes away", "passed away", "sorrow", "sorrowful", "tragic", "tragedy",
          "despair", "devastated", "devastating", "unhappy", "loss", "grave", "graveside", "lament", "elegy",
          "requiem"),
         -0.7, -0.4, (54, 72), "minor", 0.35,
         ("cellos", "strings", "piano", "contrabass", "violas")),
    Mood("melancholic", "wistful, nostalgic, lonely",
         ("melancholy", "melancholic", "wistful", "wistfully", "nostalgic", "nostalgia", "bittersweet",
          "lonely", "loneliness", "isolation", "memory", "memories", "remembers", "remembering", "regret",
          "regrets", "longing", "yearning", "rain", "rainy", "autumn", "empty room", "old photographs",
          "reminisce", "reminiscing", "what might have been", "goodbye"),
         -0.4, -0.5, (60, 80), "minor", 0.3,
         ("piano", "violas", "strings", "cellos", "clarinet")),
    Mood("tender", "gentle affection, family, innocence",
         ("tender", "tenderly", "tenderness", "gentle", "gently", "intimate", "intimacy", "cradle", "cradles",
          "lullaby", "embrace", "embraces", "hug", "hugs", "mother", "daughter", "father", "child", "baby",
          "newborn", "sweet", "warm", "warmth", "delicate", "innocent", "innocence", "affection",
          "affectionate", "comfort", "comforts", "holds hands", "bedtime"),
         0.6, -0.4, (60, 78), "major", 0.3,
         ("piano", "strings", "harp", "flute", "violas")),
    Mood("romantic", "love and longing between people",
         ("romantic", "romance", "love", "loves", "loving", "lovers", "in love", "kiss", "kisses", "kissing",
          "passion", "passionate", "wedding", "candlelit", "beloved", "sweetheart", "adore", "adores",
          "courtship", "first dance", "slow dance", "valentine", "date night", "moonlit"),
         0.8, 0.1, (66, 88), "major", 0.45,
         ("violins", "strings", "cellos", "harp", "piano", "horn"), (), "arch"),
    Mood("hopeful", "looking up, a new beginning",
         ("hope", "hopes", "hopeful", "hopefully", "optimistic", "optimism", "new beginning", "new beginnings",
          "fresh start", "dawn", "sunrise", "uplifting", "healing", "heals", "recovery", "recovers", "promise",
          "promising", "renewal", "reunion", "inspiring", "inspired", "inspiration", "brighter", "morning",
          "first steps", "rebuild", "rebuilds", "redemption", "second chance", "homecoming"),
         0.6, 0.2, (76, 100), "major", 0.45,
         ("flute", "strings", "piano", "clarinet", "horn", "harp"), (), "rise"),
    Mood("triumphant", "victory and celebration",
         ("triumph", "triumphs", "triumphant", "triumphantly", "victory", "victorious", "win", "wins",
          "winning", "won", "celebration", "celebrate", "celebrates", "celebrating", "champion", "champions",
          "championship", "glory", "glorious", "finish line", "medal", "trophy", "parade", "fanfare",
          "coronation", "crowned", "jubilant", "jubilation", "cheering", "cheers", "crowd roars", "success",
          "succeeds", "accomplishment", "graduation"),
         0.9, 0.7, (100, 126), "major", 0.8,
         ("trumpet", "brass", "strings", "horn", "woodwinds", "timpani", "cymbal"),
         ("trombone", "low_percussion"), "arch"),
    Mood("heroic", "courage, rescue, standing tall",
         ("hero", "heroes", "heroic", "heroine", "heroism", "brave", "bravely", "bravery", "courage",
          "courageous", "valiant", "noble", "rescue", "rescues", "rescuing", "saves the day", "sacrifice",
          "defiant", "defiance", "last stand", "knight", "stands up", "fights back", "takes a stand",
          "protector", "protects", "superhero", "rallies", "rallying"),
         0.7, 0.75, (104, 132), "major", 0.75,
         ("horn", "brass", "strings", "timpani", "low_percussion", "trumpet"), ("trombone", "cymbal"), "arch"),
    Mood("action", "chases, fights, escapes",
         ("action", "chase", "chases", "chasing", "chased", "car chase", "pursuit", "pursued", "fight",
          "fights", "fighting", "escape", "escapes", "escaping", "race", "races", "shootout", "gunfight",
          "firefight", "explosion", "explosions", "crash", "crashes", "attack", "attacks", "ambush", "combat",
          "heist", "getaway", "rooftop", "motorcycle", "sprint", "sprints", "sprinting", "punches", "brawl",
          "stunt", "speeding", "on the run", "hunted", "adrenaline"),
         0.0, 0.95, (132, 164), "minor", 0.85,
         ("brass", "strings", "low_percussion", "timpani", "violins", "contrabass"),
         ("trombone", "trumpet", "cymbal"), "rise"),
    Mood("mysterious", "secrets, clues, the unknown",
         ("mystery", "mysteries", "mysterious", "mysteriously", "enigma", "enigmatic", "puzzle", "puzzling",
          "clue", "clues", "secret", "secrets", "secretive", "curious", "curiosity", "investigate",
          "investigates", "investigation", "detective", "unknown", "discover", "discovers", "discovery",
          "riddle", "intrigue", "intriguing", "cryptic", "hidden", "unexplained", "ancient", "artifact",
          "labyrinth"),
         0.0, 0.2, (66, 90), "minor", 0.35,
         ("celesta", "harp", "strings", "clarinet", "synth_pad", "flute"), (), "steady"),
    Mood("eerie", "uncanny, haunted, wrong",
         ("eerie", "eerily", "creepy", "haunted", "haunting", "haunts", "ghost", "ghostly", "ghosts", "spooky",
          "uncanny", "otherworldly", "unsettling", "abandoned", "deserted", "fog", "foggy", "mist", "misty",
          "supernatural", "spectral", "whisper", "whispers", "whispering", "possessed", "cursed", "graveyard",
          "cemetery", "strange", "chilling", "apparition", "phantom", "derelict", "empty corridor"),
         -0.5, 0.3, (50, 72), "minor", 0.3,
         ("celesta", "synth_pad", "violins", "choir_pad", "harp"), (), "steady"),
    Mood("peaceful", "calm, nature, rest",
         ("peaceful", "peacefully", "peace", "calm", "calmly", "serene", "serenity", "tranquil", "tranquility",
          "quiet", "quietly", "stillness", "meadow", "pastoral", "countryside", "lake", "breeze", "floating",
          "drifting", "drifts", "idyllic", "relaxed", "relaxing", "sunset", "nature", "landscape", "garden",
          "river", "clouds", "meditation"),
         0.6, -0.7, (56, 76), "major", 0.22,
         ("flute", "strings", "harp", "piano", "woodwinds")),
    Mood("playful", "mischief, comedy, fun",
         ("playful", "playfully", "mischief", "mischievous", "whimsical", "whimsy", "quirky", "comic",
          "comedy", "comedic", "funny", "silly", "cheeky", "bouncy", "cartoon", "cartoonish", "caper",
          "prank", "pranks", "giggle", "giggles", "giggling", "clumsy", "slapstick", "bubbly", "cheerful",
          "happy", "happily", "happiness", "joy", "joyful", "fun", "puppy", "kitten", "goofy",
          "light hearted", "lighthearted"),
         0.8, 0.6, (112, 140), "major", 0.5,
         ("clarinet", "pizzicato", "bassoon", "flute", "strings", "celesta"), (), "steady"),
    Mood("epic", "vast scale, armies, grandeur",
         ("epic", "grand", "grandeur", "vast", "massive", "colossal", "monumental", "enormous", "army",
          "armies", "battle", "battles", "battlefield", "war", "empire", "kingdom", "legendary", "titanic",
          "majestic", "sweeping", "mountain", "mountains", "aerial", "panorama", "panoramic", "cosmic",
          "galaxy", "dragon", "dragons", "siege", "invasion", "fleet", "thousands"),
         0.3, 0.9, (80, 108), "minor", 0.85,
         ("brass", "choir_pad", "strings", "low_percussion", "timpani", "horn"), ("trombone", "tuba", "cymbal"),
         "arch"),
    Mood("reflective", "thoughtful and neutral (the default when nothing else is named)",
         ("reflective", "reflection", "reflect", "reflects", "thoughtful", "contemplative", "contemplates",
          "contemplation", "pensive", "introspective", "introspection", "meditative", "ponders", "pondering",
          "thinking", "thinks", "considers", "quiet moment", "looks back", "thoughts", "journal", "diary"),
         0.1, -0.3, (64, 84), "major", 0.35,
         ("piano", "strings", "cellos", "flute", "harp")),
)

MOODS: dict[str, Mood] = {m.name: m for m in _MOOD_LIST}

# Comfortable keys for a generated tonic (pitch classes): common orchestral keys, nothing beyond 3 accidentals
# in major (C D Eb F G A Bb) and the usual minor keys (C D E F G A B).
_TONICS = {"major": (0, 2, 3, 5, 7, 9, 10), "minor": (0, 2, 4, 5, 7, 9, 11)}


# --------------------------------------------------------------------------------------------------------
# Lexicons: instruments, tempo words, arc words
# --------------------------------------------------------------------------------------------------------

_INSTRUMENT_WORDS: dict[str, str] = {
    "strings": "strings", "string section": "strings", "string orchestra": "strings",
    "string quartet": "strings", "string ensemble": "strings",
    "violin": "violins", "violins": "violins", "fiddle": "violins",
    "viola": "violas", "violas": "violas",
    "cello": "cellos", "cellos": "cellos", "celli": "cellos", "violoncello": "cellos",
    "bass": "contrabass", "basses": "contrabass", "double bass": "contrabass", "contrabass": "contrabass",
    "contrabasses": "contrabass", "upright bass": "contrabass",
    "pizzicato": "pizzicato", "pizz": "pizzicato", "plucked strings": "pizzicato",
    "brass": "brass", "brass section": "brass",
    "horn": "horn", "horns": "horn", "french horn": "horn", "french horns": "horn",
    "trumpet": "trumpet", "trumpets": "trumpet",
    "trombone": "trombone", "trombones": "trombone",
    "tuba": "tuba", "tubas": "tuba",
    "woodwinds": "woodwinds", "woodwind": "woodwinds", "winds": "woodwinds",
    "flute": "flute", "flutes": "flute", "piccolo": "flute",
    "oboe": "oboe", "oboes": "oboe", "english horn": "oboe", "cor anglais": "oboe",
    "clarinet": "clarinet", "clarinets": "clarinet", "bass clarinet": "clarinet",
    "bassoon": "bassoon", "bassoons": "bassoon",
    "piano": "piano", "pianos": "piano",
    "harp": "harp", "harps": "harp",
    "celesta": "celesta", "celeste": "celesta", "music box": "celesta", "glockenspiel": "celesta",
    "choir": "choir_pad", "choirs": "choir_pad", "voices": "choir_pad", "chorus": "choir_pad",
    "choral": "choir_pad", "vocals": "choir_pad",
    "synth": "synth_pad", "synths": "synth_pad", "synthesizer": "synth_pad", "synth pad": "synth_pad",
    "pad": "synth_pad", "pads": "synth_pad",
    "timpani": "timpani", "timps": "timpani", "kettle drums": "timpani", "kettledrums": "timpani",
    "percussion": "low_percussion", "drums": "low_percussion", "drum": "low_percussion",
    "taiko": "low_percussion", "bass drum": "low_percussion", "war drums": "low_percussion",
    "toms": "low_percussion",
    "cymbal": "cymbal", "cymbals": "cymbal", "gong": "cymbal",
}

# Tempo words are matched as written (no stemming): "slowly fades" describes the fade, not the tempo.
_TEMPO_WORDS: dict[str, tuple[float, float]] = {
    "glacial": (40, 52), "crawling": (40, 54), "very slow": (44, 56), "largo": (44, 56), "lento": (52, 66),
    "slow": (56, 72), "adagio": (60, 72), "languid": (56, 70), "unhurried": (60, 74), "leisurely": (64, 80),
    "andante": (76, 96), "walking pace": (76, 96), "flowing": (80, 100), "moderate": (84, 104),
    "mid tempo": (88, 108), "moderato": (96, 112),
    "brisk": (112, 132), "upbeat": (112, 132), "lively": (116, 136), "allegro": (120, 144),
    "quick": (120, 140), "energetic": (120, 140), "uptempo": (120, 140), "up tempo": (120, 140),
    "propulsive": (128, 148), "fast": (128, 150), "urgent": (132, 152), "driving": (136, 156),
    "racing": (144, 168), "furious": (144, 168), "very fast": (150, 176), "frantic": (150, 172),
    "presto": (160, 184), "breakneck": (164, 190),
}

_BUILD, _CLIMAX, _FADE, _STEADY = "build", "climax", "fade", "steady"
_ARC_WORDS: dict[str, str] = {
    **dict.fromkeys(("build", "builds", "building", "builds up", "swell", "swells", "swelling", "crescendo",
                     "crescendos", "grows", "growing", "rises", "rising", "escalates", "escalating", "escalation",
                     "intensifies", "intensify", "intensifying", "ramps up", "gathers momentum", "mounting",
                     "mounts", "fades in", "fade in", "surges", "climbs", "climbing"), _BUILD),
    **dict.fromkeys(("climax", "climaxes", "climactic", "peak", "peaks", "explodes", "erupts", "bursts",
                     "full force", "reaches its height", "all out"), _CLIMAX),
    **dict.fromkeys(("fade", "fades", "fading", "fades out", "fade out", "fades away", "dies away", "dies down",
                     "diminuendo", "decrescendo", "recedes", "settles", "resolves", "calms", "calms down",
                     "dissolves", "trails off", "softens", "winds down", "subsides", "ebbs", "to silence",
                     "into silence", "niente", "dwindles", "quiets"), _FADE),
    **dict.fromkeys(("steady", "steadily", "constant", "constantly", "relentless", "relentlessly", "unrelenting",
                     "throughout", "unchanging", "static", "ostinato", "persistent", "never lets up",
                     "sustained", "driving pulse"), _STEADY),
}

# Words in a hit point's label that make it the climax downbeat.
_IMPACT_WORDS = ("climax", "climactic", "peak", "explosion", "explodes", "reveal", "reveals", "revealed", "impact",
                 "crash", "blast", "kiss", "finale", "gunshot", "boom")

_NEGATORS = frozenset({"not", "no", "never", "without", "nor", "hardly", "barely", "neither"})
_NEGATION_STOPS = frozenset({"but", "and", "yet", "though", "although", "while", "instead", "rather"})
_NEGATION_SCOPE = 3  # words after a negator that it negates
_LEAD_BEFORE = frozenset({"solo", "lone", "single", "featuring", "featured", "led", "leading", "lead"})
_LEAD_AFTER = frozenset({"solo", "leads", "lead", "melody", "theme", "carries", "sings", "takes"})
_ONLY_WORDS = frozenset({"only", "just", "alone", "unaccompanied", "solely", "exclusively"})


# --------------------------------------------------------------------------------------------------------
# Tokens, stems, lexicon matching
# --------------------------------------------------------------------------------------------------------

_SUFFIXES = ("ingly", "edly", "ness", "ment", "ing", "ly", "ed", "es", "s")
_VOWELS = frozenset("aeiouy")


def stem(word: str) -> str:
    """A crude, predictable stem: strip one common suffix (if a syllable remains), then a final 'e'."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix):
            base = word[: -len(suffix)]
            # "loss", "chorus", "basis" keep their s; "string" keeps its ing (no vowel would remain).
            keeps = suffix == "s" and word.endswith(("ss", "us", "is"))
            if len(base) >= 3 and _VOWELS.intersection(base) and not keeps:
                word = base
            break
    if len(word) >= 4 and word.endswith("e"):
        word = word[:-1]
    return word


@dataclass(frozen=True)
class _Token:
    text: str
    stem: str
    start: int
    end: int
    word: bool
    negated: bool = False


_TOKEN_RE = re.compile(r"[a-z]+(?:['\u2019][a-z]+)*|\d+(?:\.\d+)?|[.,;:!?()\"\n\u2014\u2013]|(?<=\s)-(?=\s)")


def _tokenize(text: str) -> list[_Token]:
    raw: list[_Token] = []
    for m in _TOKEN_RE.finditer(text):
        word = m.group()
        is_word = word[0].isalnum()
        if is_word and word.endswith(("'s", "\u2019s")):
            word = word[:-2]  # possessive: "hero's" is "hero"
        raw.append(_Token(word, stem(word) if is_word else word, m.start(), m.end(), is_word))
    # Negation: a negator negates the next few words of its clause ("not happy", "no brass", "doesn't build").
    out: list[_Token] = []
    remaining = 0
    for tok in raw:
        if not tok.word or tok.text in _NEGATION_STOPS:
            remaining = 0
            out.append(tok)
            continue
        negated = remaining > 0
        remaining = max(0, remaining - 1)
        if tok.text in _NEGATORS or tok.text.endswith(("n't", "n\u2019t")):
            remaining = _NEGATION_SCOPE
        out.append(_Token(tok.text, tok.stem, tok.start, tok.end, True, negated))
    return out


@dataclass(frozen=True)
class _Match:
    value: str
    surface: str
    first: int  # token index
    last: int  # token index (inclusive)
    negated: bool


_Lexicon = dict[str, list[tuple[tuple[str, ...], str, str]]]  # first key -> [(keys, value, phrase)], longest first


def _lexicon(entries: Mapping[str, str], stemmed: bool) -> _Lexicon:
    table: _Lexicon = {}
    for phrase, value in entries.items():
        words = tuple(re.findall(r"[a-z]+(?:'[a-z]+)?", phrase.lower()))
        keys = tuple(stem(w) for w in words) if stemmed else words
        table.setdefault(keys[0], []).append((keys, value, phrase))
    for options in table.values():
        options.sort(key=lambda o: -len(o[0]))
    return table


def _scan(tokens: Sequence[_Token], table: _Lexicon, stemmed: bool) -> list[_Match]:
    """Longest-phrase-first, non-overlapping matches of a lexicon over the word tokens."""
    keys = [(t.stem if stemmed else t.text) if t.word else "" for t in tokens]
    out: list[_Match] = []
    i = 0
    while i < len(tokens):
        found: tuple[int, str] | None = None
        for phrase_keys, value, _ in table.get(keys[i], ()):
            n = len(phrase_keys)
            if tuple(keys[i:i + n]) == phrase_keys:
                found = (n, value)
                break
        if found is None:
            i += 1
            continue
        n, value = found
        surface = " ".join(t.text for t in tokens[i:i + n])
        out.append(_Match(value, surface, i, i + n - 1, tokens[i].negated))
        i += n
    return out


_MOOD_TABLE = _lexicon({t: m.name for m in _MOOD_LIST for t in m.triggers}, stemmed=True)
_INSTRUMENT_TABLE = _lexicon(_INSTRUMENT_WORDS, stemmed=True)
_TEMPO_TABLE = _lexicon({k: k for k in _TEMPO_WORDS}, stemmed=False)
_ARC_TABLE = _lexicon(_ARC_WORDS, stemmed=True)
_IMPACT_STEMS = frozenset(stem(w) for w in _IMPACT_WORDS)


def mood_lexicon_conflicts() -> dict[str, tuple[str, ...]]:
    """Trigger stems claimed by more than one mood (should be empty: each word must point one way)."""
    owners: dict[tuple[str, ...], set[str]] = {}
    for mood in _MOOD_LIST:
        for trigger in mood.triggers:
            keys = tuple(stem(w) for w in re.findall(r"[a-z]+(?:'[a-z]+)?", trigger))
            owners.setdefault(keys, set()).add(mood.name)
    return {" ".join(k): tuple(sorted(v)) for k, v in owners.items() if len(v) > 1}


# --------------------------------------------------------------------------------------------------------
# Reading the scene
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MoodMatch:
    """One lexicon hit that moved a mood's score."""

    phrase: str  # as written (lower-cased)
    mood: str
    weight: float  # +1 per word, +1.5 per phrase; negative when negated
    negated: bool


@dataclass(frozen=True)
class SceneReading:
    """Everything the planner read in a description, before parameters override any of it."""

    description: str
    mood_scores: dict[str, float]  # every mood, in MOODS order
    mood_matches: tuple[MoodMatch, ...]
    mood: str | None  # best-scoring mood; None when no mood word scored above zero
    duration: float | None = None  # seconds
    duration_text: str | None = None
    tempo_bpm: float | None = None
    tempo_word: str | None = None
    tempo_range: tuple[float, float] | None = None  # implied by the tempo word
    tonic: int | None = None
    mode: str | None = None
    key_text: str | None = None
    meter: int | None = None
    meter_text: str | None = None
    instruments: tuple[str, ...] = ()  # mentioned, lead first
    lead_marked: bool = False  # "solo cello", "led by horns"
    excluded_instruments: tuple[str, ...] = ()  # "no brass", "without percussion"
    instruments_only: bool = False  # "piano only", "just strings"
    hit_points: tuple[tuple[str, float], ...] = ()  # (label, seconds), in text order
    arc: str | None = None  # "arch", "rise", "burst", "fade", "steady"
    arc_words: tuple[str, ...] = ()
    modulation: int = 0  # semitones the climax should lift by (0 = no key change asked)
    ignored: tuple[str, ...] = field(default=())  # noticed but not used, with the reason


_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_UNIT = r"(?=[-\s]+(?:seconds?|secs?|minutes?|mins?)\b)"
_NUMBER_WORD_RE = re.compile(
    rf"\b(?:({'|'.join(_TENS)})(?:[-\s]({'|'.join(list(_NUMBER_WORDS)[:9])}))?|({'|'.join(_NUMBER_WORDS)})){_UNIT}")


def _number_word(m: re.Match[str]) -> str:
    if m.group(1):
        return str(_TENS[m.group(1)] + (_NUMBER_WORDS[m.group(2)] if m.group(2) else 0))
    return str(_NUMBER_WORDS[m.group(3)])


def _normalize(text: str) -> str:
    """Lower-case, and spell numbers before time units as digits."""
    t = text.lower().replace("\u2019", "'")
    t = re.sub(r"\b(?:a|an|one)\s+minute\s+and\s+a\s+half\b", "90 seconds", t)
    t = re.sub(r"\b(\d+)\s+and\s+a\s+half\s+minutes?\b", lambda m: f"{int(m.group(1))}.5 minutes", t)
    t = re.sub(r"\bhalf\s+a\s+minute\b", "30 seconds", t)
    t = re.sub(r"\ba\s+couple\s+(?:of\s+)?minutes\b", "2 minutes", t)
    t = re.sub(r"\b(?:a|an)\s+(?=minute\b)", "1 ", t)
    return _NUMBER_WORD_RE.sub(_number_word, t)


_TIME_RE = re.compile(r"""
    (?P<mmss>(?<![\d:.])(?P<mm>\d{1,2}):(?P<ss>[0-5]\d(?:\.\d+)?)(?![\d:]))
  | (?P<ms>(?<![\d.])(?P<m2>\d{1,2})\s*-?\s*(?:minutes?|mins?|m)\s*(?:and\s+)?(?P<s2>\d{1,2}(?:\.\d+)?)
        \s*-?\s*(?:seconds?|secs?|s)\b)
  | (?P<min>(?<![\d.])(?P<m1>\d{1,3}(?:\.\d+)?)\s*-?\s*(?:minutes?|mins?)\b)
  | (?P<sec>(?<![\d.])(?P<s1>\d{1,4}(?:\.\d+)?)\s*-?\s*(?:seconds?|secs?)\b)
  | (?P<bare>(?<![\d.'])(?P<s3>\d{1,3}(?:\.\d+)?)s\b)
""", re.VERBOSE)
_HIT_PREFIX_RE = re.compile(
    r"(?:\bat|@|\()\s*(?:(?:around|about|approximately|approx\.?|roughly|exactly|precisely|~)\s*)?$")
_IGNORE_PREFIX_RE = re.compile(
    r"\b(?:after|before|until|till|by|from|to|within|first|last|final|every|each|between|and|past|than|"
    r"another|next|in)\s*$")
_IGNORE_SUFFIX_RE = re.compile(r"^\s*(?:later|in\b|into|ago|earlier|of silence|before|after|pause|gap|am\b|pm\b)")
_DURATION_PREFIX_RE = re.compile(
    r"\b(?:lasting|lasts|runs?|running|length|duration|total|for|long|is|be)\s*(?:of\s*)?"
    r"(?:about|around|roughly|approximately|just under|just over|exactly)?\s*$")
_DURATION_SUFFIX_RE = re.compile(
    r"^\s*-?\s*(?:long|cue|piece|track|score|spot|sting|trailer|theme|of music|music|underscore|total)\b")
_CLAUSE_END_RE = re.compile(
    r"[.;:!?,()\n\u2014\u2013\"]|\s-\s|\b(?:and|then|when|where|while|as|until|before|after|with|so|but|which|that|who|"
    r"whereupon|once)\b")
_LABEL_FILLERS = frozenset({"the", "a", "an", "then", "just", "right", "finally", "suddenly", "his", "her",
                            "their", "its", "our", "we", "see", "and"})
_LABEL_TRAILERS = frozenset({"happens", "occurs", "comes", "is", "lands", "falls", "hits", "should", "must",
                             "will"})
_LABEL_CUTS = frozenset({"second", "seconds", "secs", "minute", "minutes", "mins", "later", "earlier"})


def _time_seconds(m: re.Match[str]) -> float:
    if m.group("mmss"):
        return int(m.group("mm")) * 60 + float(m.group("ss"))
    if m.group("ms"):
        return int(m.group("m2")) * 60 + float(m.group("s2"))
    if m.group("min"):
        return float(m.group("m1")) * 60
    if m.group("sec"):
        return float(m.group("s1"))
    return float(m.group("s3"))


def _label_words(fragment: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", fragment)


def _hit_label(text: str, at_start: int, time_end: int, ordinal: int) -> str:
    """The words naming a hit: the clause before "at", else the clause after the time, else 'hit N'."""
    before = text[:at_start]
    cut = 0
    for m in _CLAUSE_END_RE.finditer(before):
        cut = m.end()
    words = _label_words(before[cut:])
    # "Ten seconds later the bomb explodes at 0:50": the label starts after the earlier time.
    cuts = [i for i, w in enumerate(words) if w in _LABEL_CUTS or w[0].isdigit()]
    if cuts:
        words = words[cuts[-1] + 1:]
    while words and words[0] in _LABEL_FILLERS:
        words.pop(0)
    while len(words) > 1 and words[-1] in _LABEL_TRAILERS:
        words.pop()
    if not words:
        after = text[time_end:]
        stop = _CLAUSE_END_RE.search(after)
        words = _label_words(after[: stop.start()] if stop else after)
        while words and words[0] in _LABEL_FILLERS:
            words.pop(0)
    # "builds to the climax at 1:05" names the climax, not the building.
    for i in range(len(words) - 2):
        if words[i + 1] == "to" and _ARC_WORDS.get(words[i]) in (_BUILD, _CLIMAX) and words[i + 2:]:
            rest = words[i + 2:]
            words = rest[1:] if rest[0] in _LABEL_FILLERS and len(rest) > 1 else rest
            break
    words = words[-5:]
    return " ".join(words) if words else f"hit {ordinal}"


def _read_times(text: str) -> tuple[float | None, str | None, list[tuple[str, float]], list[str]]:
    """Duration (seconds and the words that gave it), hit points and ignored time expressions."""
    hits: list[tuple[str, float]] = []
    ignored: list[str] = []
    candidates: list[tuple[bool, float, str]] = []
    for m in _TIME_RE.finditer(text):
        seconds = _time_seconds(m)
        prefix = text[max(0, m.start() - 40):m.start()]
        suffix = text[m.end():m.end() + 30]
        if m.group("bare") and re.search(r"\bthe\s*$", prefix):
            continue  # "the 80s" is a decade
        hit = _HIT_PREFIX_RE.search(prefix)
        if hit and not (m.group("mmss") and re.match(r"^\s*(?:am|pm|a\.m|p\.m)\b", suffix)):
            at_start = m.start() - (len(prefix) - hit.start())
            hits.append((_hit_label(text, at_start, m.end(), len(hits) + 1), seconds))
        elif _IGNORE_PREFIX_RE.search(prefix) or _IGNORE_SUFFIX_RE.match(suffix):
            ignored.append(f"time '{m.group().strip()}' (neither a duration nor an 'at' hit point)")
        else:
            context = bool(_DURATION_PREFIX_RE.search(prefix) or _DURATION_SUFFIX_RE.match(suffix))
            candidates.append((context, seconds, m.group().strip()))
    if not candidates:
        return None, None, hits, ignored
    chosen = next((c for c in candidates if c[0]), candidates[0])
    ignored.extend(f"time '{c[2]}' (a second duration; '{chosen[2]}' used)" for c in candidates if c is not chosen)
    return chosen[1], chosen[2], hits, ignored


_BPM_RES = (
    re.compile(r"(?<![\d.])(\d{2,3}(?:\.\d+)?)\s*-?\s*(?:bpm|beats\s+(?:per|a)\s+minute)\b"),
    re.compile(r"\btempo\s*(?:of|at|:|=|is|around|about)?\s*(?:around\s+|about\s+)?(\d{2,3}(?:\.\d+)?)\b"),
    re.compile(r"(?:♩|\bq|\bquarter(?:\s+note)?)\s*=\s*(\d{2,3}(?:\.\d+)?)"),
)
_ACCIDENTALS = {"#": 1, "♯": 1, "sharp": 1, "-sharp": 1, "b": -1, "♭": -1, "flat": -1, "-flat": -1}
_LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_KEY_IN_RE = re.compile(
    r"\b(in(?:\s+the\s+key\s+of)?|key\s+of|key:?)\s+([A-Ga-g])(?:\s*(♯|♭|#|-?sharp|-?flat|b(?![a-z])))?(?![a-z])"
    r"(?:\s*-?\s*(major|minor|maj|min)\b)?", re.IGNORECASE)
_KEY_BARE_RE = re.compile(r"\b([A-G])(?:\s*(♯|♭|#|-?sharp|-?flat|b(?![a-z])))?(?![a-z])[\s-]+(major|minor)\b")
_MODE_ONLY_RE = re.compile(r"\b(major|minor)[\s-]+(?:key|mode|tonality)\b|\bin\s+(major|minor)\b", re.IGNORECASE)
_KEY_NAME_RE = re.compile(r"^\s*([A-Ga-g])\s*(♯|♭|#|b|-?sharp|-?flat)?\s*(major|minor|maj|min|m)?\s*$",
                          re.IGNORECASE)
_MODULATION_RE = re.compile(
    r"\bmodulat\w*|\bkey\s+change|\bchanges?\s+(?:the\s+)?key|\bshifts?\s+(?:the\s+)?key|\btruck[- ]driver"
    r"|\b(?:up|lifts?|rises?)\s+(?:by\s+)?(?:a|one)\s+(?:half[- ]?step|semitone|whole[- ]?step|step|tone)\b"
    r"|\b(?:music|score|melody|harmony|key)\s+lifts\b")
_METER3_RE = re.compile(r"\b(?:waltz\w*|minuet|mazurka|3/4|three[- ]four|triple\s+(?:meter|metre|time))\b")
_METER4_RE = re.compile(r"\b(?:4/4|common\s+time|four[- ]four)\b")
_METER_OTHER_RE = re.compile(r"\b(2/4|5/4|6/8|7/8|9/8|12/8)\b")


def _mode_word(word: str | None) -> str | None:
    if word is None:
        return None
    return "major" if word.lower().startswith("maj") else "minor"


def _read_key(original: str) -> tuple[int | None, str | None, str | None]:
    """Tonic, mode and the words that named them ("in D minor", "key of Eb", "a minor key")."""
    for m in _KEY_IN_RE.finditer(original):
        prefix, letter, accidental, mode = m.group(1), m.group(2), m.group(3), m.group(4)
        after = original[m.end():m.end() + 20]
        if letter == "a" and re.match(r"^[\s-]*(?:key|mode|tonality|feel|chord)\b", after):
            continue  # "in a minor key": an article, not A
        if mode is None and "key" not in prefix.lower():
            # "in C" only when it stands alone; "in a scene", "in A world" are not keys.
            if not (letter.isupper() and (accidental or re.match(r"^\s*(?:[,.;:!?)]|$)", after))):
                continue
        tonic = (_LETTERS[letter.lower()] + _ACCIDENTALS.get((accidental or "").lower(), 0)) % 12
        return tonic, _mode_word(mode) or "major", m.group().strip()
    for m in _KEY_BARE_RE.finditer(original):
        before = original[:m.start()]
        if m.group(1) == "A" and (not before.strip() or re.search(r"[.!?]\s*$", before)):
            continue  # a sentence starting "A minor ..."
        tonic = (_LETTERS[m.group(1).lower()] + _ACCIDENTALS.get((m.group(2) or "").lower(), 0)) % 12
        return tonic, _mode_word(m.group(3)), m.group().strip()
    mode_only = _MODE_ONLY_RE.search(original)
    if mode_only:
        return None, _mode_word(mode_only.group(1) or mode_only.group(2)), mode_only.group().strip()
    return None, None, None


def _read_arc(events: Sequence[tuple[str, str]]) -> str | None:
    """The dynamic shape implied by arc words in text order."""
    kinds = [k for k, _ in events]
    if not kinds:
        return None
    rising = [i for i, k in enumerate(kinds) if k in (_BUILD, _CLIMAX)]
    if rising:
        first = rising[0]
        if _FADE in kinds[first:]:
            return "burst" if kinds[first] == _CLIMAX else "arch"
        return "rise" if _BUILD in kinds else "arch"
    if _FADE in kinds:
        return "fade"
    return "steady"


def read_scene(description: str) -> SceneReading:
    """What the description itself says: mood scores, timing, tempo, key, meter, instruments, hits and arc."""
    text = _normalize(description)
    tokens = _tokenize(text)
    ignored: list[str] = []

    # Mood scores, with the matches that produced them.
    scores = dict.fromkeys(MOODS, 0.0)
    first_seen: dict[str, int] = {}
    matches: list[MoodMatch] = []
    for m in _scan(tokens, _MOOD_TABLE, stemmed=True):
        weight = 1.5 if m.last > m.first else 1.0
        weight = -weight if m.negated else weight
        scores[m.value] += weight
        matches.append(MoodMatch(m.surface, m.value, weight, m.negated))
        if not m.negated:
            first_seen.setdefault(m.value, m.first)
    order = list(MOODS)
    ranked = sorted((name for name in MOODS if scores[name] > 0),
                    key=lambda n: (-scores[n], first_seen.get(n, len(tokens)), order.index(n)))
    mood = ranked[0] if ranked else None

    duration, duration_text, hits, time_notes = _read_times(text)
    ignored.extend(time_notes)

    # Tempo: a number wins over a word; a negated word ("not too slow") says nothing.
    tempo_bpm: float | None = None
    for bpm_re in _BPM_RES:
        bpm = bpm_re.search(text)
        if bpm:
            tempo_bpm = float(bpm.group(1))
            break
    tempo_word: str | None = None
    for m in _scan(tokens, _TEMPO_TABLE, stemmed=False):
        if m.negated:
            ignored.append(f"tempo word '{m.surface}' (negated)")
        elif tempo_word is None:
            tempo_word = m.value
        else:
            ignored.append(f"tempo word '{m.surface}' ('{tempo_word}' came first)")

    tonic, mode, key_text = _read_key(description)

    meter: int | None = None
    meter_text: str | None = None
    m3, m4 = _METER3_RE.search(text), _METER4_RE.search(text)
    if m3 and (not m4 or m3.start() < m4.start()):
        meter, meter_text = 3, m3.group()
    elif m4:
        meter, meter_text = 4, m4.group()
    for other in _METER_OTHER_RE.finditer(text):
        ignored.append(f"meter {other.group()} (only 3/4 and 4/4 are planned)")

    instruments, excluded, lead_marked, only = _read_instruments(tokens)

    arc_events = [(m.value, m.surface) for m in _scan(tokens, _ARC_TABLE, stemmed=True) if not m.negated]
    modulation = 0
    mod_matches = [m.group() for m in _MODULATION_RE.finditer(text)]
    if mod_matches:
        half = any(re.search(r"half|semitone", g) for g in mod_matches)
        modulation = 1 if half else 2

    return SceneReading(
        description=description, mood_scores=scores, mood_matches=tuple(matches), mood=mood,
        duration=duration, duration_text=duration_text, tempo_bpm=tempo_bpm, tempo_word=tempo_word,
        tempo_range=_TEMPO_WORDS[tempo_word] if tempo_word else None, tonic=tonic, mode=mode, key_text=key_text,
        meter=meter, meter_text=meter_text, instruments=instruments, lead_marked=lead_marked,
        excluded_instruments=excluded, instruments_only=only, hit_points=tuple(hits), arc=_read_arc(arc_events),
        arc_words=tuple(s for _, s in arc_events), modulation=modulation, ignored=tuple(ignored))


def _read_instruments(tokens: Sequence[_Token]) -> tuple[tuple[str, ...], tuple[str, ...], bool, bool]:
    """Mentioned instruments (lead first), excluded ones, whether a lead was marked, and 'X only'."""
    mentioned: list[str] = []
    excluded: list[str] = []
    lead: str | None = None
    only = False
    words = [t.text if t.word else "" for t in tokens]
    for m in _scan(tokens, _INSTRUMENT_TABLE, stemmed=True):
        if m.negated:
            if m.value not in excluded:
                excluded.append(m.value)
            continue
        if m.value not in mentioned:
            mentioned.append(m.value)
        before = set(words[max(0, m.first - 2):m.first])
        after = set(words[m.last + 1:m.last + 3])
        if lead is None and (before & _LEAD_BEFORE or after & _LEAD_AFTER):
            lead = m.value
        if before & _ONLY_WORDS or after & _ONLY_WORDS or "nothing but" in " ".join(words[max(0, m.first - 2):m.first]):
            only = True
    mentioned = [name for name in mentioned if name not in excluded]
    marked = lead is not None and lead in mentioned
    if not marked:
        # Without "solo"/"led by", the first melodic instrument mentioned leads (a drum cannot carry a theme).
        lead = next((n for n in mentioned if INSTRUMENTS[n].family != "percussion"), None)
    if lead is not None:
        mentioned = [lead, *(n for n in mentioned if n != lead)]
    return tuple(mentioned), tuple(excluded), marked, only


# --------------------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanParams:
    """Explicit planning parameters; each one given overrides what the description implies."""

    duration: float | None = None  # seconds (10..600)
    tempo: float | None = None  # BPM (40..200)
    key: str | None = None  # "D minor", "Eb major", "f# minor", "C"
    mode: str | None = None  # "major" | "minor"
    meter: int | None = None  # 3 or 4
    intensity: Sequence[tuple[float, float]] | None = None  # (seconds, 0..1) points, linear between
    instruments: Sequence[str] | None = None  # names from INSTRUMENTS, lead first
    hit_points: Sequence[tuple[str, float]] | None = None  # (label, seconds); () means "no hit points"
    style_tags: Sequence[str] = ()  # catalog style tags, "kind:value"
    mood: str | None = None  # force a mood from MOODS
    seed: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanParams:
        """Parameters from JSON (lists become tuples); unknown fields are rejected."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PlanError("plan_unknown_param", f"unknown plan parameter(s): {', '.join(unknown)}",
                            {"unknown": unknown, "known": sorted(known)})
        values = dict(data)
        for name in ("intensity", "hit_points"):
            if values.get(name) is not None:
                values[name] = tuple(tuple(p) for p in values[name])
        for name in ("instruments", "style_tags"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with only the fields that were set."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "style_tags" and not value) or (f.name == "seed" and value == 0):
                continue
            if f.name in ("intensity", "hit_points"):
                value = [list(p) for p in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


_DEFAULT_PARAMS = PlanParams()


def _number(value: object) -> float | None:
    """`value` as a float if it is a finite real number (bools are not numbers here), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _check_duration(value: object, source: str) -> float:
    lo, hi = DURATION_RANGE
    seconds = _number(value)
    if seconds is None or not lo <= seconds <= hi:
        raise PlanError("plan_duration_out_of_range",
                        f"{source} asks for a {value} s cue; cues run {lo:g} to {hi:g} seconds",
                        {"duration": value, "source": source, "min": lo, "max": hi})
    return seconds


def _check_tempo(value: object, source: str) -> float:
    lo, hi = TEMPO_RANGE
    bpm = _number(value)
    if bpm is None or not lo <= bpm <= hi:
        raise PlanError("plan_tempo_out_of_range", f"{source} asks for {value} BPM; tempos run {lo:g} to {hi:g}",
                        {"tempo": value, "source": source, "min": lo, "max": hi})
    return bpm


def parse_key(text: str) -> tuple[int, str | None]:
    """Tonic pitch class and mode (None if unstated) of a key name like 'D minor', 'Eb', 'f# minor'."""
    m = _KEY_NAME_RE.match(text) if isinstance(text, str) else None
    if m is None:
        raise PlanError("plan_bad_key", f"cannot read key {text!r}; write e.g. 'D minor', 'Eb major', 'F#'",
                        {"key": text})
    accidental = (m.group(2) or "").lower()
    tonic = (_LETTERS[m.group(1).lower()] + _ACCIDENTALS.get(accidental, 0)) % 12
    mode = m.group(3)
    return tonic, None if mode is None else ("major" if mode.lower().startswith("maj") else "minor")


def check_curve(points: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """A validated intensity curve: (seconds >= 0, value 0..1) points in strictly ascending time (PlanError)."""
    curve: list[tuple[float, float]] = []
    try:
        for point in points:
            t, v = point
            curve.append((t, v))
    except (TypeError, ValueError):
        raise PlanError("plan_bad_intensity", "the intensity curve must be a list of (seconds, 0..1) pairs",
                        {"intensity": repr(points)}) from None
    if not curve:
        raise PlanError("plan_bad_intensity", "the intensity curve needs at least one point", {"intensity": []})
    for i, (t, v) in enumerate(curve):
        if _number(t) is None or _number(v) is None or t < 0 or not 0 <= v <= 1:
            raise PlanError("plan_bad_intensity",
                            f"intensity point {i} ({t}, {v}) needs a time >= 0 s and a value in 0..1",
                            {"index": i, "point": [t, v]})
        if i and t <= curve[i - 1][0]:
            raise PlanError("plan_bad_intensity", f"intensity point {i} at {t} s is not after the one before it",
                            {"index": i, "point": [t, v], "previous": list(curve[i - 1])})
    return tuple((float(t), float(v)) for t, v in curve)


def _check_hits(points: Sequence[tuple[str, float]], duration: float, source: str) -> list[tuple[str, float]]:
    hits: list[tuple[str, float]] = []
    if len(points) > MAX_HIT_POINTS:
        raise PlanError("plan_too_many_hit_points", f"{source} has {len(points)} hit points; at most "
                        f"{MAX_HIT_POINTS} can be planned", {"count": len(points), "max": MAX_HIT_POINTS})
    for i, point in enumerate(points):
        try:
            label, seconds = point
        except (TypeError, ValueError):
            raise PlanError("plan_bad_hit_point", f"hit point {i} must be a (label, seconds) pair",
                            {"index": i, "hit_point": repr(point)}) from None
        if not isinstance(label, str) or not label.strip():
            raise PlanError("plan_bad_hit_point", f"hit point {i} needs a non-empty label", {"index": i})
        if _number(seconds) is None or not 0 <= seconds < duration:
            raise PlanError("plan_hit_point_out_of_range",
                            f"{source} puts hit '{label}' at {seconds} s, outside the {duration:g} s cue",
                            {"label": label, "seconds": seconds, "duration": duration, "source": source})
        hits.append((label.strip(), float(seconds)))
    return sorted(hits, key=lambda h: h[1])  # stable: equal times keep their order


def _check_instruments(names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, str) or not names:
        raise PlanError("plan_no_instruments", "params.instruments must be a non-empty list of instrument names",
                        {"instruments": names, "known": sorted(INSTRUMENTS)})
    unknown = [n for n in names if n not in INSTRUMENTS]
    if unknown:
        raise PlanError("plan_unknown_instrument", f"unknown instrument(s): {', '.join(map(str, unknown))}",
                        {"unknown": unknown, "known": sorted(INSTRUMENTS)})
    return tuple(dict.fromkeys(names))


_STYLE_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_.+-]*:[a-z0-9][a-z0-9_ .+'&/-]*$")


def _check_style_tags(tags: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    if isinstance(tags, str):
        tags = (tags,)
    for tag in tags:
        norm = tag.strip().lower() if isinstance(tag, str) else ""
        if not _STYLE_TAG_RE.match(norm):
            raise PlanError("plan_bad_style_tag", f"style tag {tag!r} is not 'kind:value' (e.g. 'period:baroque')",
                            {"style_tag": tag})
        if norm not in out:
            out.append(norm)
    return tuple(out)


# --------------------------------------------------------------------------------------------------------
# Arc and intensity
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    name: str
    start: float  # planned seconds
    end: float
    level_start: float
    level_end: float


# (name, end fraction, start level, end level); levels are names resolved per mood: lo < mid < hi < peak.
_ARCS: dict[str, tuple[tuple[str, float, str, str], ...]] = {
    "arch": (("intro", 0.15, "lo", "lo+"), ("build", 0.55, "lo+", "hi"), ("climax", 0.75, "peak", "peak"),
             ("release", 0.9, "hi-", "mid"), ("outro", 1.0, "mid-", "lo")),
    "rise": (("intro", 0.2, "lo", "lo+"), ("build", 0.8, "lo+", "hi"), ("climax", 1.0, "peak", "peak")),
    "burst": (("climax", 0.25, "peak", "peak"), ("release", 0.7, "hi", "mid"), ("outro", 1.0, "mid-", "lo")),
    "fade": (("intro", 0.12, "mid-", "mid"), ("main", 0.55, "mid", "mid-"), ("fade-out", 1.0, "mid-", "out")),
    "steady": (("intro", 0.1, "mid-", "mid"), ("main", 0.9, "mid", "mid"), ("outro", 1.0, "mid", "mid-")),
    "gentle": (("intro", 0.2, "lo", "mid"), ("main", 0.75, "mid", "mid+"), ("outro", 1.0, "mid", "lo")),
}


def _levels(level: float) -> dict[str, float]:
    lo = max(0.08, level - 0.3)
    hi = min(0.92, level + 0.2)
    return {"lo": lo, "lo+": lo + 0.07, "mid-": max(0.05, level - 0.08), "mid": level, "mid+": min(hi, level + 0.08),
            "hi-": hi - 0.05, "hi": hi, "peak": min(1.0, hi + 0.08), "out": 0.05}


def _parts(arc: str, duration: float, level: float, climax_at: float | None) -> list[_Part]:
    """Arc parts over the requested duration; with `climax_at`, the climax starts exactly there."""
    template = _ARCS[arc]
    levels = _levels(level)
    bounds = [0.0, *(end for _, end, _, _ in template)]
    names = [name for name, _, _, _ in template]
    if climax_at is not None and "climax" in names:
        c = names.index("climax")
        pivot = bounds[c]
        if 0 < pivot < 1:
            # Stretch the parts before the climax over [0, climax_at] and the rest over [climax_at, end].
            at = climax_at / duration
            bounds = [b * at / pivot if i <= c else at + (b - pivot) * (1 - at) / (1 - pivot)
                      for i, b in enumerate(bounds)]
    return [_Part(name, bounds[i] * duration, bounds[i + 1] * duration, levels[a], levels[b])
            for i, (name, _, a, b) in enumerate(template)]


def curve_at(curve: Sequence[tuple[float, float]], t: float) -> float:
    """Intensity of a checked curve at `t` seconds (linear between points, flat beyond the ends)."""
    if t <= curve[0][0]:
        return curve[0][1]
    for (t0, v0), (t1, v1) in itertools.pairwise(curve):
        if t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return curve[-1][1]


def _arc_of_curve(curve: Sequence[tuple[float, float]], duration: float) -> tuple[str, float | None]:
    """Arc name and climax start that match an explicit intensity curve's shape."""
    times = sorted({0.0, duration, *(t for t, _ in curve if t <= duration)})
    values = [curve_at(curve, t) for t in times]
    top, bottom = max(values), min(values)
    if top - bottom < 0.1:
        return "steady", None
    # The climax starts where the curve first comes within 0.08 of its top.
    threshold = top - 0.08
    arrival = times[-1]
    for i, t0 in enumerate(times):
        v0 = values[i]
        if v0 >= threshold:
            arrival = t0
            break
        if i + 1 < len(times) and values[i + 1] >= threshold:
            t1, v1 = times[i + 1], values[i + 1]
            arrival = t0 + (t1 - t0) * (threshold - v0) / (v1 - v0)
            break
    if arrival <= 0.1 * duration:
        return "burst", None
    if values[-1] >= threshold:
        return "rise", min(arrival, 0.9 * duration)
    return "arch", arrival


def _part_level(part: _Part, t: float) -> float:
    span = part.end - part.start
    f = 0.0 if span <= 0 else min(1.0, max(0.0, (t - part.start) / span))
    return part.level_start + (part.level_end - part.level_start) * f


def _part_at(parts: Sequence[_Part], t: float) -> int:
    index = 0
    for i, part in enumerate(parts):
        if part.start <= t + 1e-9:
            index = i
    return index


# --------------------------------------------------------------------------------------------------------
# Alignment
# --------------------------------------------------------------------------------------------------------


def _bar_seconds(meter: int, tempo: float) -> float:
    return meter * 60.0 / tempo


def _fit(length: float, target: float, meter: int, min_bars: int) -> tuple[int, float]:
    """Bars and tempo (within +-TEMPO_TOLERANCE of `target`) whose whole bars come closest to `length` seconds.

    Exact fits (tempo = bars * meter * 60 / length inside the window) win, nearest the target first; otherwise
    the bar count and window tempo that land nearest.
    """
    low, high = target - TEMPO_TOLERANCE, target + TEMPO_TOLERANCE
    if length <= 0:
        return min_bars, target
    per_bar = 60.0 * meter / length  # the tempo at which one bar lasts `length` seconds
    first = max(1, min_bars, math.ceil(low / per_bar - _TIE))
    last = math.floor(high / per_bar + _TIE)
    exact = [(abs(n * per_bar - target), n) for n in range(first, last + 1)]
    if exact:
        n = min(exact)[1]
        return n, min(high, max(low, n * per_bar))
    best: tuple[float, float, int, float] | None = None
    ideal = target / per_bar
    for n in sorted({max(min_bars, math.floor(ideal)), max(min_bars, math.ceil(ideal))}):
        tempo = target if n == 0 else min(high, max(low, n * per_bar))
        error = abs((0.0 if n == 0 else n * _bar_seconds(meter, tempo)) - length)
        candidate = (round(error, 9), abs(tempo - target), n, tempo)
        if best is None or candidate < best:
            best = candidate
    assert best is not None
    return best[2], best[3]


@dataclass(frozen=True)
class _Span:
    start_bar: int
    bars: int
    tempo: float
    start: float  # realised seconds
    end: float


@dataclass(frozen=True)
class _Alignment:
    target: float
    spans: tuple[_Span, ...]
    hit_bars: tuple[int, ...]
    hit_times: tuple[float, ...]  # realised seconds

    @property
    def bars(self) -> int:
        return self.spans[-1].start_bar + self.spans[-1].bars

    @property
    def end(self) -> float:
        return self.spans[-1].end


@dataclass(frozen=True)
class _Path:
    """A partial alignment: bar counts up to some hit, and what they cost."""

    cost: tuple[int, int, float, float]  # hits beyond one beat, inexact hits, total error (s), tempo deviation
    time: float  # planned time of the last hit's downbeat
    steps: tuple[tuple[int, float], ...]  # (bars, planned downbeat time) per hit


_BEAM = 16  # partial alignments kept per hit


def _span_options(start: float, hit: float, target: float, meter: int) -> list[tuple[int, float]]:
    """(bars, downbeat time) choices for the span from `start` towards `hit`.

    With n bars the downbeat can land anywhere in [start + n bars at the fastest tempo, start + n bars at the
    slowest]; the hit is exact when inside. Otherwise both ends are offered: landing as early (or as late)
    as the window allows can let the *next* hit land exactly, which is how an inexact hit is traded for
    exact neighbours ("split the bar count differently").
    """
    length = hit - start
    if length <= 0:
        return [(0, start)]
    fastest, slowest = target + TEMPO_TOLERANCE, target - TEMPO_TOLERANCE
    ideal = length * target / (60.0 * meter)
    out: list[tuple[int, float]] = []
    for n in sorted({math.floor(ideal), math.ceil(ideal)}):
        if n <= 0:
            out.append((0, start))
            continue
        early = start + n * _bar_seconds(meter, fastest)
        late = start + n * _bar_seconds(meter, slowest)
        if early - _TIE <= hit <= late + _TIE:
            out.append((n, hit))
        else:
            out.extend(((n, early), (n, late)))
    return out


def _align(hits: Sequence[float], duration: float, meter: int, target: float) -> _Alignment:
    """Whole-bar spans between hits (and to the end) with tempos within the window, hits on downbeats.

    A small beam search over bar counts: fewest hits beyond one beat, then fewest inexact hits, then least
    total error, then tempos nearest the target.
    """
    beat = 60.0 / target
    paths = [_Path((0, 0, 0.0, 0.0), 0.0, ())]
    for hit in hits:
        best: dict[float, _Path] = {}
        for path in paths:
            for n, time in _span_options(path.time, hit, target, meter):
                error = abs(time - hit)
                deviation = abs(n * 60.0 * meter / (time - path.time) - target) if n else 0.0
                cost = (path.cost[0] + (error > beat + _TIE), path.cost[1] + (error > _EXACT),
                        path.cost[2] + error, path.cost[3] + deviation)
                key = round(time, 6)
                if key not in best or cost < best[key].cost:
                    best[key] = _Path(cost, time, (*path.steps, (n, time)))
        paths = sorted(best.values(), key=lambda p: (p.cost, p.time))[:_BEAM]

    def finish(path: _Path) -> tuple[tuple[int, int, float, float, float], int, float]:
        n, tempo = _fit(duration - path.time, target, meter, 1)
        end = path.time + n * _bar_seconds(meter, tempo)
        c = path.cost
        return (c[0], c[1], round(c[2], 6), round(abs(end - duration), 6), round(c[3], 6)), n, tempo

    chosen = min(paths, key=lambda p: finish(p)[0])

    # Realise the chosen bar counts. Tempos are stored to the thousandth of a BPM (so the plan survives a JSON
    # round trip unchanged); each span aims at its planned downbeat from where the last one really landed, so
    # that rounding never accumulates.
    spans: list[_Span] = []
    hit_bars: list[int] = []
    hit_times: list[float] = []
    bar, now = 0, 0.0

    def add(n: int, tempo: float) -> None:
        nonlocal bar, now
        tempo = round(min(target + TEMPO_TOLERANCE, max(target - TEMPO_TOLERANCE, tempo)), 3)
        end = now + n * _bar_seconds(meter, tempo)
        spans.append(_Span(bar, n, tempo, now, end))
        bar, now = bar + n, end

    for n, time in chosen.steps:
        if n:
            add(n, n * 60.0 * meter / (time - now) if time > now else target)
        hit_bars.append(bar)
        hit_times.append(now)
    n, tempo = _fit(duration - now, target, meter, 1)
    add(n, tempo)
    return _Alignment(target, tuple(spans), tuple(hit_bars), tuple(hit_times))


def _alignment_cost(alignment: _Alignment, hits: Sequence[float], duration: float,
                    preferred: float) -> tuple[int, int, float, float, float]:
    beat = 60.0 / alignment.target
    errors = [abs(t - h) for t, h in zip(alignment.hit_times, hits, strict=True)]
    return (sum(e > beat + _TIE for e in errors), sum(e > _EXACT for e in errors),
            round(abs(alignment.target - preferred), 6), round(sum(errors), 6), round(abs(alignment.end - duration), 6))


def _choose_alignment(hits: Sequence[float], duration: float, meter: int, explicit: float | None,
                      tempo_range: tuple[float, float], preferred: float) -> _Alignment:
    """The alignment at the explicit tempo, or at the tempo in range that lands the hits best."""
    if explicit is not None:
        return _align(hits, duration, meter, round(explicit, 3))
    low = max(TEMPO_RANGE[0], math.ceil(tempo_range[0]))
    high = min(TEMPO_RANGE[1], math.floor(tempo_range[1]))
    candidates = sorted(range(int(low), int(high) + 1), key=lambda t: (abs(t - preferred), t)) or [int(preferred)]
    if not hits:
        return _align(hits, duration, meter, float(candidates[0]))
    options = [_align(hits, duration, meter, float(t)) for t in candidates]
    return min(options, key=lambda a: _alignment_cost(a, hits, duration, preferred))


# --------------------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------------------


def _round(value: float) -> float:
    return round(value, 3)


def _fmt(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def _orchestration(base: Sequence[str], keep: int, mood: Mood, intensity: float, excluded: Sequence[str],
                   ) -> tuple[str, ...]:
    """Thin the default orchestration from the end at low intensity; add the mood's tutti at high intensity."""
    count = max(keep, min(len(base), math.ceil(len(base) * (0.25 + 0.75 * intensity))))
    chosen = list(base[:count])
    if intensity >= 0.7:
        chosen.extend(n for n in mood.tutti if n not in chosen and n not in excluded)
    return tuple(chosen)


def plan_cue(description: str, params: PlanParams = _DEFAULT_PARAMS) -> CuePlan:
    """Plan a cue: sections of whole bars, tempo, key, intensity and orchestration, with hits on downbeats."""
    if not isinstance(description, str):
        raise PlanError("plan_bad_description", "the scene description must be text",
                        {"type": type(description).__name__})
    if len(description) > MAX_DESCRIPTION:
        raise PlanError("plan_description_too_long",
                        f"the description has {len(description)} characters; the limit is {MAX_DESCRIPTION}",
                        {"length": len(description), "max": MAX_DESCRIPTION})
    reading = read_scene(description)
    notes: list[str] = []

    # Mood.
    if params.mood is not None:
        if params.mood not in MOODS:
            raise PlanError("plan_unknown_mood", f"unknown mood {params.mood!r}",
                            {"mood": params.mood, "known": list(MOODS)})
        mood = MOODS[params.mood]
        notes.append(f"mood: {mood.name} (params)")
    elif reading.mood is not None:
        mood = MOODS[reading.mood]
        words = ", ".join(f"'{m.phrase}'" for m in reading.mood_matches if m.mood == mood.name and not m.negated)
        notes.append(f"mood: {mood.name} (score {reading.mood_scores[mood.name]:g} from {words})")
    else:
        mood = MOODS[DEFAULT_MOOD]
        notes.append(f"mood: {mood.name} (default: no mood word in the description)")
    negated = [m.phrase for m in reading.mood_matches if m.negated]
    if negated:
        notes.append(f"negated, counted against their mood: {', '.join(negated)}")

    # Duration and hit points.
    if params.duration is not None:
        duration = _check_duration(params.duration, "params.duration")
        notes.append(f"duration: {duration:g} s (params)")
    elif reading.duration is not None:
        duration = _check_duration(reading.duration, "the description")
        notes.append(f"duration: {duration:g} s (text: '{reading.duration_text}')")
    else:
        duration = DEFAULT_DURATION
        asked = reading.hit_points if params.hit_points is None else params.hit_points
        last = max((_number(p[1]) or 0.0 for p in asked if isinstance(p, Sequence) and len(p) == 2), default=0.0)
        if last + 10 > duration:
            duration = min(DURATION_RANGE[1], math.ceil(last + 10))
        notes.append(f"duration: {duration:g} s (default: none given)")
    if params.hit_points is not None:
        hits = _check_hits(params.hit_points, duration, "params.hit_points")
    else:
        hits = _check_hits(reading.hit_points, duration, "the description")

    # Meter.
    if params.meter is not None:
        if params.meter not in METERS or isinstance(params.meter, bool):
            raise PlanError("plan_bad_meter", f"meter {params.meter!r} is not planned; use 3 (3/4) or 4 (4/4)",
                            {"meter": params.meter, "allowed": list(METERS)})
        meter = int(params.meter)
        notes.append(f"meter: {meter}/4 (params)")
    elif reading.meter is not None:
        meter = reading.meter
        notes.append(f"meter: {meter}/4 (text: '{reading.meter_text}')")
    else:
        meter = 4
    notes.extend(f"ignored: {item}" for item in reading.ignored)

    # Key.
    if params.mode is not None and params.mode not in MODES:
        raise PlanError("plan_bad_mode", f"mode {params.mode!r} is not 'major' or 'minor'", {"mode": params.mode})
    if params.key is not None:
        tonic, key_mode = parse_key(params.key)
        if params.mode is not None and key_mode is not None and key_mode != params.mode:
            raise PlanError("plan_key_mode_conflict", f"key {params.key!r} contradicts mode {params.mode!r}",
                            {"key": params.key, "mode": params.mode})
        mode = params.mode or key_mode or reading.mode or mood.mode
        key_source = "params"
    elif reading.tonic is not None:
        tonic = reading.tonic
        mode = params.mode or reading.mode or mood.mode
        key_source = f"text: '{reading.key_text}'"
    else:
        mode = params.mode or reading.mode or mood.mode
        choices = _TONICS[mode]
        tonic = choices[(zlib.crc32(mood.name.encode()) + params.seed) % len(choices)]
        key_source = f"{'params mode' if params.mode else 'text mode' if reading.mode else 'mood'} {mode}; " \
                     f"tonic from mood and seed {params.seed}"
    notes.append(f"key: {key_name(tonic, mode)} ({key_source})")

    # Target tempo: explicit if given, else searched in the tempo word's or the mood's range.
    explicit: float | None = None
    tempo_source = ""
    if params.tempo is not None:
        explicit = _check_tempo(params.tempo, "params.tempo")
        tempo_source = "params"
    elif reading.tempo_bpm is not None:
        explicit = _check_tempo(reading.tempo_bpm, "the description")
        tempo_source = "text"
    if reading.tempo_range is not None:
        tempo_range = reading.tempo_range
        range_source = f"tempo word '{reading.tempo_word}'"
    else:
        tempo_range = mood.tempo
        range_source = f"mood {mood.name}"
    preferred = float(round((tempo_range[0] + tempo_range[1]) / 2))
    alignment = _choose_alignment([h for _, h in hits], duration, meter, explicit, tempo_range, preferred)
    target = alignment.target
    if explicit is None:
        tempo_source = f"{range_source} range {tempo_range[0]:g}-{tempo_range[1]:g}"
        if target != preferred:
            tempo_source += f"; {target:g} rather than {preferred:g} so the hits land on bar lines"
    notes.append(f"tempo: target {target:g} BPM ({tempo_source}); sections within +-{TEMPO_TOLERANCE:g} BPM")

    # Arc and intensity.
    curve: tuple[tuple[float, float], ...] | None = None
    climax_at: float | None = None
    if params.intensity is not None:
        curve = check_curve(params.intensity)
        arc, climax_at = _arc_of_curve(curve, duration)
        notes.append(f"arc: {arc} (shape of params.intensity)")
    else:
        impact = next((h for h in hits if _IMPACT_STEMS.intersection(stem(w) for w in _label_words(h[0]))), None)
        if reading.arc is not None:
            arc = reading.arc
            notes.append(f"arc: {arc} (text: {', '.join(reading.arc_words)})")
        elif impact is not None:
            arc = "arch"
            notes.append(f"arc: arch (hit '{impact[0]}' is an impact)")
        else:
            arc = mood.arc
            notes.append(f"arc: {arc} (mood {mood.name} default)")
        if impact is not None and arc in ("arch", "rise"):
            climax_at = impact[1]
            if arc == "rise" and climax_at < 0.75 * duration:
                arc = "arch"  # a climax well before the end needs somewhere to go afterwards
                notes.append("arc: arch rather than rise (the climax hit leaves a quarter of the cue after it)")
            notes.append(f"climax on hit '{impact[0]}' at {_fmt(impact[1])} s")
    parts = _parts(arc, duration, mood.intensity, climax_at)

    boundaries = _place_boundaries(alignment, parts, hits)
    sections = _build_sections(alignment, parts, boundaries, curve, meter, mood, tonic, mode, reading, params,
                               notes)

    hit_points = []
    for (label, requested), bar, _ in zip(hits, alignment.hit_bars, alignment.hit_times, strict=True):
        start = next(s for s in sections if s.start_bar == bar)
        hit_points.append(HitPoint(label, _round(requested), bar, float(bar * meter), start.start))
        error = start.start - requested
        beats = abs(error) * target / 60.0
        how = "exact" if abs(error) <= _EXACT else f"{'late' if error > 0 else 'early'} by {abs(error):.3f} s " \
              f"({beats:.2f} beats): the nearest bar line the +-{TEMPO_TOLERANCE:g} BPM window allows"
        warning = "WARNING, more than one beat off: " if beats > 1 + _TIE else ""
        notes.append(f"{warning}hit '{label}' asked {_fmt(requested)} s -> bar {bar + 1} downbeat at "
                     f"{_fmt(start.start)} s ({how})")
    notes.append(f"length: {alignment.bars} bars, {_fmt(sections[-1].end)} s for {duration:g} s requested")
    notes.append(TARGET_TEMPO_NOTE + ", ".join(f"{target:g}" for _ in sections))

    return CuePlan(description=description, meter=meter, sections=tuple(sections), hit_points=tuple(hit_points),
                   style_tags=_check_style_tags(params.style_tags), mood=mood.name, seed=params.seed,
                   requested_duration=_round(duration), notes=tuple(notes))


@dataclass(frozen=True)
class _Boundary:
    bar: int
    part: int
    hit_labels: tuple[str, ...]


def _place_boundaries(alignment: _Alignment, parts: Sequence[_Part], hits: Sequence[tuple[str, float]],
                      ) -> list[_Boundary]:
    """Section starts: bar 0, every hit's bar, and each arc part's start on its nearest bar line."""
    total = alignment.bars
    min_bars = 2 if total >= 12 else 1
    hard: dict[int, list[str]] = {0: []}
    for (label, _), bar in zip(hits, alignment.hit_bars, strict=True):
        if bar < total:
            hard.setdefault(bar, []).append(label)
    part_of: dict[int, int] = {}
    for bar in hard:
        # The part a hit falls in, by where it actually lands.
        t = next(s.start for s in alignment.spans if s.start_bar == bar) if bar else 0.0
        part_of[bar] = _part_at(parts, t)
    adopted: dict[int, int] = {}
    soft: dict[int, int] = {}
    names = [p.name for p in parts]
    order = sorted(range(1, len(parts)), key=lambda k: (names[k] != "climax", k))  # the climax is placed first
    for k in order:
        start = parts[k].start
        if start >= alignment.end:
            continue
        span = next((s for s in alignment.spans if s.start <= start < s.end), alignment.spans[-1])
        fraction = (start - span.start) / (span.end - span.start)
        bar = span.start_bar + math.floor(fraction * span.bars + 0.5)
        # Too close to a hit: the hit's section takes this part's name ("the explosion is the climax"); the
        # climax is placed first, so it keeps a hit against any later part.
        hit_bars = [b for b in hard if b > 0 and abs(b - bar) < min_bars]
        if hit_bars:
            nearest = min(hit_bars, key=lambda b: (abs(b - bar), b))
            adopted.setdefault(nearest, k)
            continue
        # Otherwise the nearest bar line (within `min_bars` of the ideal one) that leaves every section at
        # least `min_bars` long, so a short intro is lengthened rather than swallowed.
        taken = {*hard, *soft}
        options = sorted(range(bar - min_bars, bar + min_bars + 1), key=lambda c: (abs(c - bar), c))
        for option in options:
            if (span.start_bar <= option <= span.start_bar + span.bars and min_bars <= option <= total - min_bars
                    and all(abs(option - b) >= min_bars for b in taken)):
                soft[option] = k
                break
    out: list[_Boundary] = []
    current = 0
    for bar in sorted({*hard, *soft}):
        part = soft[bar] if bar in soft else max(part_of[bar], adopted.get(bar, 0))
        current = max(current, part)  # parts only move forward in time
        out.append(_Boundary(bar, current, tuple(hard.get(bar, ()))))
    return out


def _build_sections(alignment: _Alignment, parts: Sequence[_Part], boundaries: Sequence[_Boundary],
                    curve: Sequence[tuple[float, float]] | None, meter: int, mood: Mood, tonic: int, mode: str,
                    reading: SceneReading, params: PlanParams, notes: list[str]) -> list[Section]:
    """Sections with realised times, intensities, orchestration and keys."""
    total = alignment.bars

    # Orchestration source.
    excluded = reading.excluded_instruments
    fixed: tuple[str, ...] | None = None
    if params.instruments is not None:
        fixed = _check_instruments(params.instruments)
        notes.append(f"orchestration: {', '.join(fixed)} (params)")
        base: tuple[str, ...] = fixed
        keep = len(fixed)
    elif reading.instruments and reading.instruments_only:
        fixed = reading.instruments
        notes.append(f"orchestration: {', '.join(fixed)} only (text)")
        base, keep = fixed, len(fixed)
    else:
        base = tuple(dict.fromkeys([*reading.instruments, *(n for n in mood.instruments if n not in excluded)]))
        if not base:
            base = tuple(n for n in ("piano", "strings") if n not in excluded) or ("piano",)
        keep = max(2, len(reading.instruments))
        if reading.instruments:
            notes.append(f"instruments from text: {', '.join(reading.instruments)} (lead {reading.instruments[0]})")
        notes.append(f"orchestration: {', '.join(base)} (thinned at low intensity)")
    if excluded:
        notes.append(f"excluded by the text: {', '.join(excluded)}")

    # Sections: whole bars between consecutive boundaries, each inside one span (hits split spans).
    raw: list[tuple[_Boundary, int, float, float, float]] = []  # boundary, bars, tempo, start, end
    for i, b in enumerate(boundaries):
        end_bar = boundaries[i + 1].bar if i + 1 < len(boundaries) else total
        span = next(s for s in alignment.spans if s.start_bar <= b.bar < s.start_bar + s.bars)
        start = span.start + (b.bar - span.start_bar) * _bar_seconds(meter, span.tempo)
        end = start + (end_bar - b.bar) * _bar_seconds(meter, span.tempo)
        raw.append((b, end_bar - b.bar, span.tempo, start, end))

    # Key changes only when asked: from the first climax section on (else the last section).
    shift_from = len(raw)
    if reading.modulation and len(raw) > 1:
        shift_from = next((i for i, r in enumerate(raw) if parts[r[0].part].name == "climax" and i > 0),
                          len(raw) - 1)
        notes.append(f"modulation: up {reading.modulation} semitone(s) from section {shift_from} "
                     f"to {key_name((tonic + reading.modulation) % 12, mode)} (asked in the text)")

    sections: list[Section] = []
    for i, (b, bars, tempo, start, end) in enumerate(raw):
        part = parts[b.part]
        if curve is not None:
            level_start, level_end = curve_at(curve, start), curve_at(curve, end)
        elif part.name == "climax":
            # Held at the peak, even when it swallowed a release too short for its own bars: always loudest.
            level_start = level_end = part.level_start
        else:
            # A section that swallowed a dropped part ends at that part's level ("intro" + "build" ends high),
            # but never at the climax's peak.
            end_part = parts[max(b.part, _part_at(parts, end - 1e-6))]
            if end_part.name == "climax":
                end_part = part
            level_start = _part_level(part, start)
            level_end = _part_level(end_part, end)
        level_start, level_end = _round(level_start), _round(level_end)
        if i == 0 or raw[i - 1][0].part != b.part or not b.hit_labels:
            name = part.name
        else:
            name = f"{part.name}: {' / '.join(b.hit_labels)}"
        mean = (level_start + level_end) / 2
        instruments = fixed if fixed is not None else _orchestration(base, keep, mood, mean, excluded)
        sections.append(Section(
            index=i, name=name, start_bar=b.bar, bars=bars, start=_round(start), end=_round(end), tempo=tempo,
            tonic=(tonic + (reading.modulation if i >= shift_from else 0)) % 12, mode=mode, mood=mood.name,
            intensity_start=level_start, intensity_end=level_end, instruments=instruments))
    return sections


def target_tempo(plan: CuePlan) -> tuple[float, ...]:
    """The pre-alignment target tempo of each section (each realised tempo is within +-3 BPM of it)."""
    for note in plan.notes:
        if note.startswith(TARGET_TEMPO_NOTE):
            values = tuple(float(v) for v in note[len(TARGET_TEMPO_NOTE):].split(","))
            if len(values) == len(plan.sections):
                return values
    raise PlanError("plan_no_target_tempo", "the plan carries no target tempo note (was it made by plan_cue?)",
                    {"notes": list(plan.notes)})


def hit_errors(plan: CuePlan) -> tuple[float, ...]:
    """Realised minus requested time of each hit point, in seconds."""
    return tuple(h.time - h.requested for h in plan.hit_points)


__all__ = [
    "DEFAULT_MOOD", "DURATION_RANGE", "MOODS", "TEMPO_RANGE", "TEMPO_TOLERANCE", "Mood", "MoodMatch",
    "PlanError", "PlanParams", "SceneReading", "hit_errors", "mood_lexicon_conflicts", "parse_key", "plan_cue",
    "read_scene", "stem", "target_tempo",
]
