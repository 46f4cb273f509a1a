"""Randomized embeddings S, applied as S @ A without forming S."""

from skconvex.sketching.effective_dim import effective_dimension
from skconvex.sketching.sketches import (
    SKETCH_KINDS,
    Sketch,
    approximate_leverage_scores,
    sketch,
)

__all__ = [
    "SKETCH_KINDS",
    "Sketch",
    "approximate_leverage_scores",
    "effective_dimension",
    "sketch",
]
