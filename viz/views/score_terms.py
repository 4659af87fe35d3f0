"""What a model's score is, in words and formulas: the one set of labels every page, figure and library view that
shows a score uses, so none calls T5's or Gemma 2's scores "q·k/√d_head".

The engine's score (Trace.scores, HeadSteps.before_mask: the softmax's input before the mask) is q·k times the
model's scale (1/√d_head unless the model sets its own: Gemma's query_pre_attn_scalar^-½, T5's 1), then
cap·tanh(s / cap) where the model soft-caps (Gemma 2), plus the relative position bias where it has one (T5), or
DeBERTa's position terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ScoreTerms:
    scale: float | None  # the factor on q·k; None: 1/√d_head
    d_head: int
    softcap: float | None = None  # scores → softcap·tanh(scores / softcap) before the mask
    position_bias: bool = False  # a bias added after the scale and the cap, before the mask (T5)
    bias_name: str = "position bias"  # DeBERTa's: "position terms" (of the query's and key's own contents)
    multiple: int | None = None  # k where scale is 1/√(k·d_head) (DeBERTa: 3; ModelConfig.scale_multiple)

    @property
    def unscaled(self) -> bool:
        return self.scale == 1.0  # T5 declares exactly 1.0

    @property
    def own_scale(self) -> bool:
        """A factor of the model's own, not 1/√d_head (the same test as ModelConfig.has_own_scale)."""
        if self.scale is None or self.unscaled:
            return False
        return abs(self.scale * math.sqrt(self.d_head) - 1.0) > 1e-6

    @property
    def scaled(self) -> str:
        """q·k with the model's factor, as a formula: "q·k/√d_head", "q·k/√(3·d_head)", "q·k × 0.2041", "q·k"."""
        if self.unscaled:
            return "q·k"
        if self.multiple:
            return f"q·k/√({self.multiple}·d_head)"
        return f"q·k × {self.scale:.4g}" if self.own_scale else "q·k/√d_head"

    @property
    def formula(self) -> str:
        """The score the softmax reads, as a formula ("5·tanh(q·k × 0.2041 / 5)", "q·k + position bias")."""
        out = self.scaled
        if self.softcap is not None:
            out = f"{self.softcap:g}·tanh({out} / {self.softcap:g})"
        return out + f" + {self.bias_name}" if self.position_bias else out

    @property
    def name(self) -> str:
        """A short name for the score, for hover text and table columns."""
        if self.position_bias:
            first = "soft-capped score" if self.softcap is not None else ("q·k" if self.unscaled else "scaled q·k")
            return f"{first} + {self.bias_name}"
        if self.softcap is not None:
            return "soft-capped score"
        return "unscaled score q·k" if self.unscaled else "scaled score"

    def described(self) -> str:
        """The name with its formula: "scaled score (q·k/√d_head, before the softmax)"."""
        formula = "" if self.formula == self.name else f"{self.formula}, "
        return f"{self.name} ({formula}before the softmax)"

    def scores_title(self) -> str:
        """The title of the scores heatmap (the masking page's and the library's `scores` view)."""
        if self.unscaled:
            by = "q·k (this model does not scale it)"
        elif self.own_scale:
            factor = f"/ √({self.multiple}·d_head)" if self.multiple else f"× {self.scale:.4g}"
            by = f"q·k {factor} (the model's own scale, not 1/√d_head)"
        else:
            by = "q·k / √d_head"
        if self.position_bias:
            capped = f", soft-capped at ±{self.softcap:g}" if self.softcap is not None else ""
            added = "relative position bias" if self.bias_name == "position bias" else POSITION_TERMS
            return f"Scores: {by}{capped} + {added}"
        if self.softcap is not None:
            return f"Scaled scores, soft-capped  {self.formula}"
        return f"Scaled scores  {by}"

    def scale_step(self) -> str:
        """The title of the step from Q·Kᵀ to the scaled scores."""
        if self.unscaled:
            return "no scale: q·k × 1"
        if self.multiple and self.scale is not None:
            return f"÷ √({self.multiple}·d_head) = ÷ {1.0 / self.scale:.4g}"
        if self.own_scale and self.scale is not None:
            return f"× own scale {self.scale:.4g} = ÷ {1.0 / self.scale:.4g}"
        return f"÷ √d_head = ÷ {math.sqrt(self.d_head):.4g}"

    def cap_step(self) -> str:
        return f"soft-cap: {self.softcap:g}·tanh(s / {self.softcap:g})"

    def bias_step(self) -> str:
        """The title of the sum the mask reads, where a position bias is added."""
        if self.softcap is not None:
            return f"soft-capped + {self.bias_name}"
        return f"q·k + {self.bias_name}" if self.unscaled else f"q·k scaled + {self.bias_name}"


POSITION_TERMS = "position terms (content→position + position→content)"


def bias_name(kind: str) -> str:
    """What the model adds before the mask is called: DeBERTa's "position terms" (made from each layer's q and k),
    every other model's "position bias" (T5's table, ALiBi's slopes)."""
    return "position terms" if kind == "disentangled" else "position bias"


def score_terms(trace: Any) -> ScoreTerms:
    """A trace's terms, from its config (duck-typed; a config-less fake reads as plain 1/√d_head)."""
    cfg = getattr(trace, "config", None)
    scale = getattr(cfg, "scale", None)
    return ScoreTerms(
        scale=None if scale is None else float(scale),
        d_head=int(getattr(cfg, "d_head", 0) or 0),
        softcap=getattr(cfg, "attn_softcap", None),
        position_bias=getattr(cfg, "position_bias", "none") != "none",
        bias_name=bias_name(getattr(cfg, "position_bias", "none")),
        multiple=getattr(cfg, "scale_multiple", None),
    )


def steps_terms(steps: Any) -> ScoreTerms:
    """A HeadSteps' (Trace.head_steps) terms."""
    attn_scale = float(getattr(steps, "attn_scale", 0.0) or 0.0)  # 0: unset, 1/√d_head
    return ScoreTerms(
        scale=attn_scale or None,
        d_head=int(steps.d_head),
        softcap=getattr(steps, "softcap", None),
        position_bias=getattr(steps, "position_bias", None) is not None,
        bias_name=bias_name(getattr(steps, "position_kind", "none")),
        multiple=getattr(steps, "scale_multiple", None),
    )


@dataclass(frozen=True)
class Stage:
    """One query × key matrix of a head's steps: `name` is the HeadSteps (StepsWindow) array it draws."""

    name: str
    title: str
    kind: str = "diverging"  # query_key_heatmap's colouring


def score_stages(terms: ScoreTerms) -> list[Stage]:
    """Q·Kᵀ to the pattern, one stage per term the model adds: each stage's matrix differs from the one before
    by exactly what its title says (masking changes only the masked cells)."""
    stages = [Stage("dots", "Q·Kᵀ"), Stage("scaled", terms.scale_step())]
    if terms.softcap is not None:
        stages.append(Stage("capped", terms.cap_step()))
    if terms.position_bias:
        stages += [Stage("position_bias", terms.bias_name), Stage("before_mask", terms.bias_step())]
    return stages + [Stage("masked", "masked scores", "scores"), Stage("pattern", "softmax: the pattern A", "weight")]
