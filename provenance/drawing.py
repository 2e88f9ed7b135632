"""The license-chain graph as a picture: a layered, left-to-right SVG drawing for audit reports.

Pure (networkx + stdlib; no Django): `svg(graph)` takes any provenance.graph graph (an output graph, a training
graph, or the two combined) and returns a standalone SVG document.

Layout, precisely:

- one column per node type present, in `provenance.graph.NODE_TYPES` order (the order the chain reads: the
  output, its job, the gate decisions, the model, its training manifest, the style references, the works, the
  licenses, the rights holders); nodes of a type outside `NODE_TYPES` go in a last column;
- inside a column, nodes are ordered by the mean row of their neighbours in the columns already placed
  (the barycentre heuristic, one left-to-right pass: it keeps a work near the style reference that names it
  and a license near its works, which removes most crossings), ties broken by node id;
- a column with more than `max_per_column` nodes shows the first `max_per_column - 1` and one dashed
  "+N more <type>s" box; edges of the hidden nodes are re-routed to that box and merged (a thicker line says
  how many edges it stands for);
- edges run from what depends to what it depends on (the graph's own direction) as cubic curves from the right
  side of one box to the left side of the other, ending in an explicit arrowhead polygon (no SVG markers, so
  every renderer draws them: browsers, WeasyPrint, librsvg);
- a legend of the node types drawn, and a column header per type with its count.

The output is deterministic (same graph, same bytes: everything is sorted and every coordinate is written with
one decimal), all text is XML-escaped (and characters XML 1.0 forbids are replaced), and the picture is sized
for an A4 landscape page: at most about 1,450 px wide for the nine columns of a full output graph, with labels cut to a
column's width (the full id is in each box's `<title>`, shown on hover).

No PNG renderer: WeasyPrint (since v53) writes only PDF, and cairosvg is not a dependency; the reports embed
the SVG itself in HTML and PDF.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx

from provenance.graph import NODE_TYPES

FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
FONT_SIZE = 11.0
SMALL_FONT_SIZE = 9.0
CHAR_WIDTH = 7.1  # average advance of bold DejaVu Sans (wide glyphs) at FONT_SIZE: labels are cut to fit
SMALL_CHAR_WIDTH = 5.6
BOX_HEIGHT = 34.0
ROW_GAP = 9.0
COLUMN_GAP = 28.0
MIN_COLUMN_WIDTH = 84.0
MAX_COLUMN_WIDTH = 156.0
MARGIN = 16.0
TITLE_HEIGHT = 28.0
HEADER_HEIGHT = 22.0
LEGEND_HEIGHT = 34.0
ARROW_LENGTH = 7.0
ARROW_HALF_WIDTH = 3.5
OTHER = "other"

# (stroke, fill) per node type: print-friendly pastels with a darker outline, distinct in greyscale too.
COLOURS: dict[str, tuple[str, str]] = {
    "output": ("#1f4e79", "#d6e4f2"),
    "job": ("#2e75b6", "#e6f0fa"),
    "gate_decision": ("#3a7d44", "#e2f0d9"),
    "model": ("#6f3198", "#ece0f5"),
    "training_manifest": ("#8e5ea2", "#f4ecf8"),
    "style_reference": ("#c55a11", "#fbe5d6"),
    "work": ("#38761d", "#eef6e8"),
    "license": ("#9c6500", "#fff2cc"),
    "party": ("#4d4d4d", "#ececec"),
    OTHER: ("#666666", "#ffffff"),
}
DENIED = ("#b00020", "#fde0e0")  # a gate decision that denied
EDGE_COLOUR = "#8c8c8c"
LABELS = {"output": "output", "job": "job", "gate_decision": "gate decision", "model": "model",
          "training_manifest": "training manifest", "style_reference": "style reference", "work": "work",
          "license": "license", "party": "party", OTHER: "other"}
PLURALS = {"party": "parties"}

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _text(value: object) -> str:
    """XML-escaped text (also safe inside double-quoted attributes), forbidden characters replaced."""
    cleaned = _XML_INVALID.sub("\ufffd", str(value))
    return (cleaned.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("'", "&#39;"))


def _num(value: float) -> str:
    """One decimal, no trailing `.0`, no `-0` (byte-stable output)."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _cut(text: str, width: float, char_width: float) -> str:
    """`text` cut to fit `width` pixels, with an ellipsis when cut."""
    limit = max(3, int(width // char_width))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def plural(kind: str, n: int) -> str:
    """`work`/`works`, `party`/`parties`."""
    label = LABELS.get(kind, kind.replace("_", " "))
    if n == 1:
        return label
    return PLURALS.get(kind, label + "s")


def _short(value: object, n: int = 12) -> str:
    text = str(value)
    return text if len(text) <= n else text[:n] + "…"


def node_labels(node: str, attrs: Mapping[str, Any]) -> tuple[str, str]:
    """(main line, detail line) of a node's box, from the attributes provenance.graph gives each type."""
    kind = str(attrs.get("type", ""))
    bare = node.split(":", 1)[1] if ":" in node else node
    if kind == "output":
        formats = attrs.get("formats") or []
        return "output", ", ".join(str(f) for f in formats) if isinstance(formats, list) else ""
    if kind == "job":
        return str(attrs.get("reference", bare)), f"{attrs.get('territory', '')} · {attrs.get('use', '')}".strip(" ·")
    if kind == "gate_decision":
        verdict = "allowed" if attrs.get("allowed") else "denied"
        return f"{attrs.get('stage', bare)}: {verdict}", f"policy v{attrs.get('policy_version', '?')}"
    if kind == "model":
        return str(attrs.get("slug", bare)), f"ckpt {_short(attrs.get('checkpoint_sha256', ''))}"
    if kind == "training_manifest":
        return str(attrs.get("name", bare)), f"{attrs.get('works', '?')} works · {_short(attrs.get('merkle_root', ''))}"
    if kind == "style_reference":
        detail = f"{str(attrs.get('kind', '')).replace('_', ' ')} · {attrs.get('works', '?')} works"
        return str(attrs.get("label", bare)), detail
    if kind == "work":
        key = str(attrs.get("key", bare))
        collection, _, rest = key.partition("/")
        return (rest, collection) if rest else (key, "")
    if kind == "license":
        uses = attrs.get("uses") or []
        detail = str(attrs.get("basis", ""))
        if isinstance(uses, list) and uses:
            detail += f" · {len(uses)} uses"
        return str(attrs.get("key", bare)), detail
    if kind == "party":
        return str(attrs.get("name", bare)), str(attrs.get("key", ""))
    return bare, kind


@dataclass(frozen=True)
class _Box:
    """A drawn box: a node, or the overflow box of a column."""

    id: str
    kind: str
    column: int
    row: int
    label: str
    detail: str
    tooltip: str
    overflow: bool = False
    denied: bool = False


def _columns(graph: nx.DiGraph) -> list[tuple[str, list[str]]]:
    """(type, node ids sorted) per type present, in drawing order."""
    grouped: dict[str, list[str]] = {}
    for node, attrs in graph.nodes(data=True):
        kind = str(attrs.get("type", ""))
        grouped.setdefault(kind if kind in NODE_TYPES else OTHER, []).append(str(node))
    order = [*NODE_TYPES, OTHER]
    return [(kind, sorted(grouped[kind])) for kind in order if kind in grouped]


def _layout(graph: nx.DiGraph, max_per_column: int) -> tuple[list[tuple[str, int]], list[_Box], dict[str, str]]:
    """Columns (type, node count), the boxes drawn, and where each node is drawn (its box or its overflow box)."""
    columns = _columns(graph)
    placed_row: dict[str, float] = {}
    boxes: list[_Box] = []
    drawn_as: dict[str, str] = {}
    for index, (kind, nodes) in enumerate(columns):
        def barycentre(node: str) -> tuple[float, int, str]:
            rows = [placed_row[n] for n in (*graph.predecessors(node), *graph.successors(node)) if n in placed_row]
            index = graph.nodes[node].get("ledger_index")
            return (sum(rows) / len(rows) if rows else math.inf, index if isinstance(index, int) else -1, node)
        ordered = sorted(nodes, key=barycentre)
        shown = ordered if len(ordered) <= max_per_column else _sample(ordered, barycentre, max_per_column - 1)
        hidden = [node for node in ordered if node not in set(shown)]
        for row, node in enumerate(shown):
            attrs = graph.nodes[node]
            label, detail = node_labels(node, attrs)
            denied = attrs.get("type") == "gate_decision" and not attrs.get("allowed")
            boxes.append(_Box(node, kind, index, row, label, detail, node, denied=denied))
            drawn_as[node] = node
            placed_row[node] = float(row)
        if hidden:
            box_id = f"more:{kind}"
            boxes.append(_Box(box_id, kind, index, len(shown), f"+{len(hidden)} more {plural(kind, len(hidden))}",
                              f"of {len(nodes)} in all", f"{len(hidden)} {plural(kind, len(hidden))} not drawn",
                              overflow=True))
            for node in hidden:
                drawn_as[node] = box_id
                placed_row[node] = float(len(shown))
    return [(kind, len(nodes)) for kind, nodes in columns], boxes, drawn_as


def _sample(ordered: list[str], key: Callable[[str], tuple[float, int, str]], n: int) -> list[str]:
    """`n` of the ordered nodes, taken in turn from each group with the same barycentre (so every style
    reference keeps some of its works in view), returned in their order."""
    groups: dict[float, list[str]] = {}
    for node in ordered:
        groups.setdefault(key(node)[0], []).append(node)
    queues = [groups[b] for b in sorted(groups)]
    picked: set[str] = set()
    depth = 0
    while len(picked) < n:
        for queue in queues:
            if depth < len(queue) and len(picked) < n:
                picked.add(queue[depth])
        depth += 1
    return [node for node in ordered if node in picked]


def _column_widths(columns: list[tuple[str, int]], boxes: Iterable[_Box]) -> list[float]:
    needed = [(len(plural(kind, n)) + 6) * SMALL_CHAR_WIDTH for kind, n in columns]  # the header
    for box in boxes:
        needed[box.column] = max(needed[box.column], len(box.label) * CHAR_WIDTH, len(box.detail) * SMALL_CHAR_WIDTH)
    return [min(MAX_COLUMN_WIDTH, max(MIN_COLUMN_WIDTH, n + 14)) for n in needed]


def svg(graph: nx.DiGraph, *, max_per_column: int = 12, title: str = "") -> str:
    """The graph drawn as a standalone SVG document (see the module docstring for the layout)."""
    if max_per_column < 2:
        raise ValueError("max_per_column must be at least 2 (one node and the overflow box)")
    columns, boxes, drawn_as = _layout(graph, max_per_column)
    widths = _column_widths(columns, boxes)
    lefts: list[float] = []
    x = MARGIN
    for width in widths:
        lefts.append(x)
        x += width + COLUMN_GAP
    total_width = max(x - COLUMN_GAP + MARGIN, 480.0)
    rows = max((box.row + 1 for box in boxes), default=1)
    column_rows = [0] * len(columns)
    for box in boxes:
        column_rows[box.column] = max(column_rows[box.column], box.row + 1)
    top = MARGIN + (TITLE_HEIGHT if title else 0.0) + HEADER_HEIGHT
    body_height = rows * BOX_HEIGHT + (rows - 1) * ROW_GAP
    total_height = top + body_height + ROW_GAP + LEGEND_HEIGHT + MARGIN

    def box_top(box: _Box) -> float:
        used = column_rows[box.column] * BOX_HEIGHT + (column_rows[box.column] - 1) * ROW_GAP
        return top + (body_height - used) / 2 + box.row * (BOX_HEIGHT + ROW_GAP)

    where = {box.id: box for box in boxes}
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" class="license-chain" role="img" '
        f'width="{_num(total_width)}" height="{_num(total_height)}" '
        f'viewBox="0 0 {_num(total_width)} {_num(total_height)}" font-family="{_text(FONT)}" '
        f'font-size="{_num(FONT_SIZE)}">',
        f"<title>{_text(title or 'License-chain graph')}</title>",
        f'<rect x="0" y="0" width="{_num(total_width)}" height="{_num(total_height)}" fill="#ffffff"/>',
    ]
    if title:
        out.append(f'<text x="{_num(MARGIN)}" y="{_num(MARGIN + 14)}" font-size="14" font-weight="bold" '
                   f'fill="#222222">{_text(title)}</text>')
    for index, (kind, count) in enumerate(columns):
        header = _cut(f"{plural(kind, count)} ({count})", widths[index], SMALL_CHAR_WIDTH)
        out.append(f'<text x="{_num(lefts[index] + widths[index] / 2)}" y="{_num(top - 8)}" text-anchor="middle" '
                   f'font-size="{_num(SMALL_FONT_SIZE)}" fill="#555555" font-weight="bold">{_text(header)}</text>')

    # Edges first, so boxes sit on top of them; merged per drawn pair.
    merged: dict[tuple[str, str], list[str]] = {}
    for source, target, attrs in graph.edges(data=True):
        pair = (drawn_as[str(source)], drawn_as[str(target)])
        if pair[0] == pair[1]:
            continue  # between two hidden nodes of one column
        merged.setdefault(pair, []).append(str(attrs.get("type", "")))
    out.append('<g class="edges" fill="none">')
    for (source, target), types in sorted(merged.items()):
        out.append(_edge(where[source], where[target], types, lefts, widths, box_top))
    out.append("</g>")

    out.append('<g class="nodes">')
    for box in sorted(boxes, key=lambda b: (b.column, b.row)):
        out.append(_box(box, lefts[box.column], box_top(box), widths[box.column]))
    out.append("</g>")
    out.append(_legend([kind for kind, _ in columns], any(b.denied for b in boxes), total_height - MARGIN - 15))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _edge(source: _Box, target: _Box, types: list[str], lefts: list[float], widths: list[float],
          box_top: Callable[[_Box], float]) -> str:
    """A curve from `source` to `target` with an arrowhead, thicker when it stands for several edges."""
    sy = box_top(source) + BOX_HEIGHT / 2
    ty = box_top(target) + BOX_HEIGHT / 2
    if target.column > source.column:  # forward: right side to left side
        sx, tx = lefts[source.column] + widths[source.column], lefts[target.column]
        direction = 1.0
    elif target.column < source.column:  # backward (not in provenance graphs, but drawn correctly)
        sx, tx = lefts[source.column], lefts[target.column] + widths[target.column]
        direction = -1.0
    else:  # same column: a loop out to the right
        sx = tx = lefts[source.column] + widths[source.column]
        direction = -1.0
    end = tx - direction * ARROW_LENGTH
    if source.column == target.column:
        bend = COLUMN_GAP * 0.8
        path = (f"M{_num(sx)},{_num(sy)} C{_num(sx + bend)},{_num(sy)} {_num(end + bend)},{_num(ty)} "
                f"{_num(end)},{_num(ty)}")
    else:
        pull = max(COLUMN_GAP, abs(end - sx) * 0.45)
        path = (f"M{_num(sx)},{_num(sy)} C{_num(sx + direction * pull)},{_num(sy)} "
                f"{_num(end - direction * pull)},{_num(ty)} {_num(end)},{_num(ty)}")
    colour = DENIED[0] if target.denied else EDGE_COLOUR
    weight = 1.0 + min(3.0, math.log2(len(types))) if len(types) > 1 else 1.0
    kinds = ", ".join(sorted(set(types)))
    label = f"{source.tooltip} → {target.tooltip}: {kinds}" + (f" ({len(types)} edges)" if len(types) > 1 else "")
    tip = tx
    back = tip - direction * ARROW_LENGTH
    arrow = (f"{_num(tip)},{_num(ty)} {_num(back)},{_num(ty - ARROW_HALF_WIDTH)} "
             f"{_num(back)},{_num(ty + ARROW_HALF_WIDTH)}")
    return (f'<g><title>{_text(label)}</title><path d="{path}" stroke="{colour}" '
            f'stroke-width="{_num(weight)}"/><polygon points="{arrow}" fill="{colour}" stroke="none"/></g>')


def _box(box: _Box, left: float, top: float, width: float) -> str:
    """A rounded, labelled box coloured by type (dashed for an overflow box, red for a denying decision)."""
    stroke, fill = DENIED if box.denied else COLOURS.get(box.kind, COLOURS[OTHER])
    dash = ' stroke-dasharray="4 3"' if box.overflow else ""
    fill = "#ffffff" if box.overflow else fill
    inner = width - 12
    label = _cut(box.label, inner, CHAR_WIDTH)
    parts = [f'<g class="node {_text(box.kind)}"><title>{_text(box.tooltip)}</title>',
             f'<rect x="{_num(left)}" y="{_num(top)}" width="{_num(width)}" height="{_num(BOX_HEIGHT)}" rx="6" '
             f'ry="6" fill="{fill}" stroke="{stroke}" stroke-width="1.2"{dash}/>']
    weight = "normal" if box.overflow else "bold"
    style = ' font-style="italic"' if box.overflow else ""
    if box.detail:
        parts.append(f'<text x="{_num(left + 6)}" y="{_num(top + 14)}" fill="#1a1a1a" font-weight="{weight}"'
                     f'{style}>{_text(label)}</text>')
        parts.append(f'<text x="{_num(left + 6)}" y="{_num(top + 27)}" fill="#4d4d4d" '
                     f'font-size="{_num(SMALL_FONT_SIZE)}">{_text(_cut(box.detail, inner, SMALL_CHAR_WIDTH))}</text>')
    else:
        parts.append(f'<text x="{_num(left + 6)}" y="{_num(top + 21)}" fill="#1a1a1a" font-weight="{weight}"'
                     f'{style}>{_text(label)}</text>')
    parts.append("</g>")
    return "".join(parts)


def _legend(kinds: list[str], denied: bool, baseline: float) -> str:
    """Swatches of the node types drawn, then how to read an arrow."""
    parts = ['<g class="legend" font-size="9">']
    x = MARGIN
    entries = [(LABELS.get(k, k), COLOURS.get(k, COLOURS[OTHER])) for k in kinds]
    if denied:
        entries.append(("denied", DENIED))
    for label, (stroke, fill) in entries:
        parts.append(f'<rect x="{_num(x)}" y="{_num(baseline - 9)}" width="14" height="10" rx="2" ry="2" '
                     f'fill="{fill}" stroke="{stroke}"/>')
        parts.append(f'<text x="{_num(x + 18)}" y="{_num(baseline)}" fill="#333333">{_text(label)}</text>')
        x += 18 + len(label) * SMALL_CHAR_WIDTH + 14
    x, baseline = MARGIN, baseline + 14  # second line: how to read the arrows
    parts.append(f'<path d="M{_num(x)},{_num(baseline - 4)} L{_num(x + 22)},{_num(baseline - 4)}" '
                 f'stroke="{EDGE_COLOUR}" fill="none"/>')
    parts.append(f'<polygon points="{_num(x + 29)},{_num(baseline - 4)} {_num(x + 22)},{_num(baseline - 7.5)} '
                 f'{_num(x + 22)},{_num(baseline - 0.5)}" fill="{EDGE_COLOUR}"/>')
    parts.append(f'<text x="{_num(x + 34)}" y="{_num(baseline)}" fill="#333333">A → B: A depends on B. Dashed box: '
                 f'nodes not drawn. Thick line: several edges.</text>')
    parts.append("</g>")
    return "".join(parts)
