"""The reference composer's own parts: vocabulary, network, training, constrained sampling, arrangement."""

from __future__ import annotations

import hashlib
import io
import pickle
import random
from functools import lru_cache

import pytest
import torch

from generation.engines.reference import metrics
from generation.engines.reference.arrange import arrange, cast_roles, harmonize
from generation.engines.reference.engine import ReferenceComposer, bar_specs
from generation.engines.reference.model import CheckpointError, CueTransformer, ModelConfig, load_checkpoint
from generation.engines.reference.sample import SamplingSpec, density_bounds, free_spec, sample_melody
from generation.engines.reference.train import (
    Example,
    TrainConfig,
    choose_styles,
    train,
    windows,
    without_styles,
)
from generation.engines.reference.vocab import (
    DURATIONS,
    PITCH_HIGH,
    PITCH_LOW,
    Vocabulary,
    density_class,
    length_class,
)
from generation.engines.score import CuePlan, HitPoint, Section, scale_of

TINY = TrainConfig(steps=40, batch_size=8, d_model=48, n_layer=2, n_head=2, block_size=96, min_style_count=2,
                   warmup=5)


def _examples(n: int = 24, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        notes, t, p = [], 0, 64
        for _ in range(40):
            d = rng.choice([2, 4, 4, 8])
            p = max(52, min(84, p + rng.choice([-2, -1, 2, 1, 0, 5, -5])))
            notes.append((t, d, p))
            t += d
        out.append(Example(f"w{i}", tuple(notes), "major" if i % 2 else "minor", 4 if i % 3 else 3,
                           ("period:folk",) if i % 2 else ("period:baroque", "composer:bach")))
    return out


@lru_cache(maxsize=1)
def _trained() -> tuple[bytes, str]:
    result = train(_examples(), TINY)
    return result.checkpoint, hashlib.sha256(result.checkpoint).hexdigest()


def _plan(modes: tuple[str, str] = ("minor", "minor"), meter: int = 4) -> CuePlan:
    s1 = Section(0, "intro", 0, 4, 0.0, 8.0 * meter / 4, 120.0, 2, modes[0], "sad", 0.1, 0.3,
                 ("cellos", "strings", "contrabass", "harp"))
    s2 = Section(1, "climax", 4, 6, s1.end, s1.end + 12.0 * meter / 4, 120.0, 4, modes[1], "heroic", 0.8, 0.95,
                 ("horn", "brass", "strings", "violins", "contrabass", "timpani", "low_percussion"))
    return CuePlan("a test cue", meter, (s1, s2), (HitPoint("reveal", s1.end, 4, 4.0 * meter, s1.end),))


def test_a_melody_round_trips_through_tokens() -> None:
    vocab = Vocabulary(("period:folk",))
    notes = [(0, 4, 60), (4, 2, 62), (6, 2, 64), (16, 8, 67), (24, 3, 65), (40, 16, 72)]
    tokens = vocab.encode(notes, mode="major", meter=4, styles=["period:folk", "composer:unknown"])
    assert tokens[:4] == [vocab.id("BOS"), vocab.id("MODE_major"), vocab.id("METER_4"), vocab.id("STYLE_period:folk")]
    assert vocab.decode(tokens, 4) == notes
    assert tokens.count(vocab.id("BAR")) == 3


def test_pitches_fold_into_range_and_durations_snap_to_classes() -> None:
    vocab = Vocabulary(())
    decoded = vocab.decode(vocab.encode([(0, 5, 30), (8, 7, 110)], mode="minor", meter=4), 4)
    assert all(PITCH_LOW <= p < PITCH_HIGH for _, _, p in decoded)
    assert [d for _, d, _ in decoded] == [4, 6] and all(d in DURATIONS for _, d, _ in decoded)


@pytest.mark.parametrize("meter", [2, 3, 4])
def test_density_bounds_invert_density_classes(meter: int) -> None:
    for count in range(0, meter * 4 + 1):
        low, high = density_bounds(density_class(count, meter), meter)
        assert low <= count <= high


def test_long_melodies_become_windows_that_start_at_bar_lines_with_their_conditioning() -> None:
    vocab = Vocabulary(())
    example = _examples(1)[0]
    rows = windows(vocab, example, 48)
    assert len(rows) > 1
    for row in rows:
        assert len(row) <= 49
        assert row[0] == vocab.id("BOS") and vocab.id("BAR") in row
        assert row[row.index(vocab.id("BAR")) - 1] in (vocab.id("STYLE_none"), *range(len(vocab)))


def test_the_conditioning_names_the_length_and_the_last_bar_is_marked_final() -> None:
    vocab = Vocabulary(("period:folk",))
    notes = [(12, 4, 67), (16, 4, 72), (20, 4, 74), (32, 16, 72)]  # a pickup, a full bar, a held last note
    tokens = vocab.encode(notes, mode="major", meter=4, styles=["period:folk"])
    prefix = vocab.prefix("major", 4, ["period:folk"], 3)
    assert tokens[:len(prefix)] == prefix and prefix[-1] == vocab.id(f"LEN_{length_class(3)}")
    assert tokens.count(vocab.id("FINAL")) == 1
    last_bar = len(tokens) - 1 - tokens[::-1].index(vocab.id("BAR"))
    assert tokens[last_bar + 1] == vocab.id("FINAL") and tokens[last_bar + 2] == vocab.id("DENS_0")
    assert vocab.decode(tokens, 4) == notes
    assert [length_class(b) for b in (1, 8, 9, 16, 17, 48, 64, 65, 500)] == [0, 0, 1, 2, 3, 5, 6, 7, 7]


def test_only_windows_that_start_inside_a_melody_are_marked_cont() -> None:
    vocab = Vocabulary(())
    rows = windows(vocab, _examples(1)[0], 48)
    cont, bar = vocab.id("CONT"), vocab.id("BAR")
    assert len(rows) > 2 and cont not in rows[0]
    for row in rows[1:]:
        assert len(row) <= 49 and row.count(cont) == 1 and row[row.index(cont) + 1] == bar
        assert row[:row.index(cont)] == rows[0][:rows[0].index(bar)]  # the same conditioning, length included


def test_a_layout_1_vocabulary_of_an_older_checkpoint_keeps_its_token_ids() -> None:
    old = Vocabulary.from_json({"styles": ["period:folk"]})  # what 1.0 and 1.1 checkpoints store
    assert old.layout == 1 and not old.marks_ends and old.id("MODE_major") == 5 and old.id("STYLE_period:folk") == 10
    assert "FINAL" not in old.ids and "CONT" not in old.ids and not any(n.startswith("LEN_") for n in old.names)
    assert old.prefix("major", 4, ["period:folk"], 12) == [1, 5, 9, 10]
    assert Vocabulary.from_json(Vocabulary(("period:folk",)).to_json()).layout == 2
    model = CueTransformer(ModelConfig(vocab_size=len(old), block_size=64, n_layer=1, n_head=2, d_model=16))
    model.eval()
    notes, tokens = sample_melody(model, old, free_spec("major", 4, (), 6, scale_of("major")), seed=0)
    assert tokens.count(old.id("BAR")) == 6 and all(0 <= t < len(old) for t in tokens)
    assert tokens[:4] == [1, 5, 9, 4] and all(onset < 6 * 16 for onset, _, _ in notes)  # no LEN, no FINAL


def _shaped_examples() -> list[Example]:
    """Melodies that open with a one-note pickup and close on one held note; short ones busy, long ones sparse."""
    rng = random.Random(1)
    out = []
    for i in range(24):
        bars, per_bar = (8, 8) if i % 2 else (40, 2)
        notes, p = [(12, 4, 67)], 67
        for bar in range(1, bars - 1):
            for k in range(per_bar):
                p = max(60, min(79, p + rng.choice([-2, -1, 1, 2])))
                notes.append((bar * 16 + k * 16 // per_bar, 16 // per_bar, p))
        notes.append(((bars - 1) * 16, 16, 72))
        out.append(Example(f"s{i}", tuple(notes), "major", 4, ("period:folk",)))
    return out


def test_free_samples_open_close_and_fill_bars_like_melodies_of_their_length() -> None:
    # Free samples were 7-9% denser than the catalog: the model never knew a melody's length, took every
    # training window's first bar for an opening and was never told which bar was the last, so it wrote no
    # sparse pickups, no held closing notes, and the density of long melodies like short ones.
    result = train(_shaped_examples(), TrainConfig(**{**TINY.__dict__, "steps": 600, "threads": 1}))
    model, _ = load_checkpoint(result.checkpoint, None)
    for bars, busy in ((8, 8), (40, 2)):
        counts = []
        for seed in range(4):
            notes, _ = sample_melody(model, result.vocab, free_spec("major", 4, ("period:folk",), bars,
                                                                   scale_of("major")), seed=seed)
            counts.append([sum(1 for onset, _, _ in notes if onset // 16 == bar) for bar in range(bars)])
        middle = [n for c in counts for n in c[1:-1]]
        assert sum(middle) / len(middle) == pytest.approx(busy, rel=0.25), bars
        assert sum(c[0] for c in counts) <= 1.5 * len(counts)  # pickups, not full bars
        assert all(c[-1] <= 1 for c in counts)  # one held closing note (or none)


def test_style_tokens_are_frequent_tags_of_known_kinds() -> None:
    examples = [*_examples(6), Example("x", ((0, 4, 60),), "major", 4, ("collection:x", "genre:reel"))]
    assert choose_styles(examples, min_count=2, limit=10) == ("composer:bach", "period:baroque", "period:folk")


def test_training_is_deterministic_for_a_seed() -> None:
    _, digest = _trained()
    again = train(_examples(), TINY).checkpoint
    assert hashlib.sha256(again).hexdigest() == digest
    other = train(_examples(), TrainConfig(**{**TINY.__dict__, "seed": 1})).checkpoint
    assert hashlib.sha256(other).hexdigest() != digest


def test_a_checkpoint_loads_only_with_its_pinned_sha256() -> None:
    data, digest = _trained()
    model, payload = load_checkpoint(data, digest)
    assert payload["vocab"]["styles"] == ["composer:bach", "period:baroque", "period:folk"]
    assert not model.training
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(data, "0" * 64)
    assert exc.value.code == "checkpoint_sha256_mismatch"


def test_a_checkpoint_that_needs_arbitrary_unpickling_is_refused() -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    buffer = io.BytesIO()
    torch.save({"format": "clearcue.reference-composer.v1", "x": Evil()}, buffer, pickle_module=pickle)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(buffer.getvalue(), None)
    assert exc.value.code == "checkpoint_unreadable"


@pytest.mark.parametrize("meter", [3, 4])
def test_sampling_keeps_bar_count_scale_density_monophony_and_cadences(meter: int) -> None:
    data, digest = _trained()
    composer = ReferenceComposer.load(data, digest)
    plan = _plan(("minor", "major"), meter)
    specs = bar_specs(plan)
    spec = SamplingSpec(mode="minor", meter=meter, styles=("period:folk",), bars=tuple(specs))
    notes, tokens = sample_melody(composer.model, composer.vocab, spec, seed=7)
    bar_len = meter * 4
    assert tokens.count(composer.vocab.id("BAR")) == plan.bars
    for bar, bar_spec in enumerate(specs):
        mine = [n for n in notes if n[0] // bar_len == bar]
        if bar_spec.cadence:
            assert len(mine) == 1 and mine[0][0] % bar_len == 0 and mine[0][2] % 12 in bar_spec.tonic_triad
            assert mine[0][1] == bar_len
        else:
            low, high = density_bounds(bar_spec.density, meter)
            assert low <= len(mine) <= high
            assert all(p % 12 in bar_spec.scale for _, _, p in mine)
        assert all(o % bar_len + d <= bar_len for o, d, _ in mine)
    ends = [o + d for o, d, _ in notes]
    assert all(notes[i + 1][0] >= ends[i] for i in range(len(notes) - 1))
    again, _ = sample_melody(composer.model, composer.vocab, spec, seed=7)
    assert again == notes


RHYTHMS = {"period:folk": (2, 2, 4), "period:baroque": (4, 8, 8, 12)}  # sixteenths: busy vs sparse bars


def _styled_examples(n: int = 32, seed: int = 0) -> list[Example]:
    """Eight-bar 4/4 melodies whose style tag decides how busy their bars are (notes end inside their bar)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        style = sorted(RHYTHMS)[i % 2]
        notes, t, p = [], 0, 64
        while t < 8 * 16:
            d = min(rng.choice(RHYTHMS[style]), 16 - t % 16)
            p = max(52, min(84, p + rng.choice([-2, -1, 2, 1, 0, 5, -5])))
            notes.append((t, d, p))
            t += d
        out.append(Example(f"s{i}", tuple(notes), "major", 4, (style,)))
    return out


def test_free_sampling_under_the_training_styles_fills_bars_like_the_training_data() -> None:
    # Free sampling once under-filled bars (2.8 notes per bar against the corpus's 4.35) because it was
    # conditioned on STYLE_none, which almost no training melody carries. Under each melody's own tags the
    # model's bars must be as busy as that style's training bars, and the tags must make the difference.
    examples = _styled_examples()
    result = train(examples, TrainConfig(**{**TINY.__dict__, "steps": 300, "threads": 1}))
    model, _ = load_checkpoint(result.checkpoint, None)
    density = {}
    for style in RHYTHMS:
        spec = free_spec("major", 4, (style,), 8, scale_of("major"))
        sampled = [Example("x", tuple(sample_melody(model, result.vocab, spec, seed=s)[0]), "major", 4)
                   for s in range(6)]
        density[style] = metrics.rhythm_density(sampled)
        trained = metrics.rhythm_density([e for e in examples if e.styles == (style,)])
        assert density[style] == pytest.approx(trained, rel=0.2), style
    assert density["period:folk"] > 2 * density["period:baroque"]


def test_style_dropout_replaces_a_windows_style_tags_by_style_none() -> None:
    vocab = Vocabulary(("composer:bach", "period:baroque"))
    row = vocab.encode([(0, 4, 60), (4, 4, 62)], mode="minor", meter=4, styles=("composer:bach", "period:baroque"))
    dropped = without_styles(vocab, row)
    assert dropped[:4] == [vocab.id("BOS"), vocab.id("MODE_minor"), vocab.id("METER_4"), vocab.id("STYLE_none")]
    assert dropped[4:] == row[5:]
    assert without_styles(vocab, dropped) == dropped


def test_with_style_dropout_unconditioned_samples_fill_bars_like_the_whole_training_set() -> None:
    # Cues whose plan names no known style run under STYLE_none. Style dropout shows the model every kind of
    # window under STYLE_none too, so unconditioned samples are as busy as the training data as a whole.
    examples = _styled_examples()
    cfg = TrainConfig(**{**TINY.__dict__, "steps": 300, "threads": 1, "style_dropout": 0.3})
    result = train(examples, cfg)
    model, payload = load_checkpoint(result.checkpoint, None)
    assert payload["training"]["config"]["style_dropout"] == 0.3
    spec = free_spec("major", 4, (), 8, scale_of("major"))
    sampled = [Example("x", tuple(sample_melody(model, result.vocab, spec, seed=s)[0]), "major", 4)
               for s in range(12)]
    trained = {style: metrics.rhythm_density([e for e in examples if e.styles == (style,)]) for style in RHYTHMS}
    # Without dropout this model writes 2.5 notes per bar under STYLE_none (near the sparse style's 2.4).
    assert min(trained.values()) * 1.3 < metrics.rhythm_density(sampled) < max(trained.values()) / 1.15
    assert metrics.rhythm_density(sampled) == pytest.approx(metrics.rhythm_density(examples), rel=0.2)


def test_louder_sections_ask_for_busier_bars() -> None:
    specs = bar_specs(_plan())
    quiet = [s.density for s in specs[:3]]
    loud = [s.density for s in specs[4:9]]
    assert max(quiet) < min(loud)


def test_harmony_starts_on_the_tonic_and_ends_with_a_v_i_cadence() -> None:
    melody = [(0.0, 2.0, 0), (2.0, 2.0, 4), (4.0, 2.0, 5), (6.0, 2.0, 9), (8.0, 2.0, 7), (10.0, 2.0, 11),
              (12.0, 4.0, 0)]
    chords = harmonize(melody, [(float(b), 2.0) for b in range(0, 16, 2)], "major")
    assert chords[0].numeral == "I" and chords[-2].numeral == "V" and chords[-1].numeral == "I"
    assert chords[2].numeral in ("IV", "ii")  # F and A over beats 4-8 fit IV/ii, not I


def test_roles_follow_the_planned_instruments() -> None:
    roles = cast_roles(_plan().sections[1])
    assert roles.lead == "horn" and roles.bass == "contrabass"
    assert set(roles.hits) == {"timpani", "low_percussion"}
    assert roles.pads


def test_the_arrangement_keeps_keys_tempo_hits_and_the_intensity_curve() -> None:
    data, digest = _trained()
    composer = ReferenceComposer.load(data, digest)
    plan = _plan(("minor", "major"))
    composition = composer.compose(plan, seed=3)
    score = arrange(plan, composition.material)
    assert [(k.beat, k.tonic, k.mode) for k in score.keys] == [(0, 2, "minor"), (16, 4, "major")]
    assert score.duration == pytest.approx(plan.duration)
    melody = [n for n in score.notes if n.part == "melody"]
    for note in melody:
        section = plan.section_at_bar(int(note.start // plan.meter))
        assert (note.pitch - section.tonic) % 12 in (*scale_of(section.mode), 11)
    assert any(n.part == "hits" and n.start == 16.0 and n.velocity >= 110 for n in score.notes)
    quiet = [n.velocity for n in score.notes if n.start < 16 and n.part != "hits"]
    loud = [n.velocity for n in score.notes if n.start >= 16 and n.part != "hits"]
    assert sum(loud) / len(loud) > sum(quiet) / len(quiet) + 25


def test_revision_keeps_the_melody_and_changes_only_what_was_asked() -> None:
    data, digest = _trained()
    composer = ReferenceComposer.load(data, digest)
    composition = composer.compose(_plan(), seed=5)
    faster = composer.revise(composition, tempo=132)
    assert faster.material == composition.material
    assert faster.plan.sections[0].tempo == pytest.approx(132)
    assert faster.plan.duration == pytest.approx(composition.plan.duration * 120 / 132)
    assert faster.plan.hit_points[0].time == pytest.approx(faster.plan.sections[1].start)
    solo = composer.revise(composition, instruments=["piano"])
    assert {n.instrument for n in composer.arrange(solo).notes} <= {"piano", "timpani"}
    with pytest.raises(ValueError):
        composer.revise(composition, instruments=["kazoo"])
