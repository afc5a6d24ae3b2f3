"""A signature drawn with a finger or a mouse, kept as a small SVG image: strokes of points in
the pad's own coordinates become paths, rounded to a tenth of a point."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MIN_POINTS", "signature_svg"]

#: Fewer points than this in all is a tap, not a signature.
MIN_POINTS = 8


def signature_svg(strokes: Sequence[Sequence[tuple[float, float]]], width: float, height: float) -> str:
    """The strokes (each a list of (x, y) points) as an SVG image of `width` x `height`.
    ValueError when there is too little to be a signature."""
    kept = [stroke for stroke in strokes if stroke]
    if sum(len(stroke) for stroke in kept) < MIN_POINTS:
        raise ValueError("sign in the box first")
    paths = []
    for stroke in kept:
        x, y = stroke[0]
        parts = [f"M{x:.1f} {y:.1f}"] + [f"L{x:.1f} {y:.1f}" for x, y in stroke[1:]]
        if len(stroke) == 1:
            parts.append(f"L{x + 0.1:.1f} {y:.1f}")  # a dot
        paths.append(f'<path d="{" ".join(parts)}"/>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">'
        '<g fill="none" stroke="#1a237e" stroke-width="2.5" stroke-linecap="round" stroke-linejoin="round">'
        + "".join(paths)
        + "</g></svg>"
    )
