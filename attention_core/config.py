"""One frozen description of a model's shapes and conventions, shared by every source format."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ModelConfig:
    name: str
    arch: Literal["llama", "bert", "gpt2", "marian", "marian-decoder"]
    n_layers: int
    n_heads: int
    n_kv_heads: int  # < n_heads means grouped-query attention: n_heads // n_kv_heads queries share a key/value head
    d_model: int
    d_head: int
    d_mlp: int
    d_vocab: int
    n_ctx: int  # positions the model was trained for
    causal: bool  # the model's own masking
    norm: Literal["rms", "layer"]
    norm_eps: float
    norm_position: Literal["pre", "post"]  # llama normalises a block's input; BERT normalises after each residual add
    act: Literal["silu", "gelu", "gelu_tanh"]
    gated_mlp: bool  # SwiGLU: act(x W_gate) * (x W_in)
    uses_rope: bool
    rope_theta: float | None = None
    n_token_types: int = 0  # BERT's segment embeddings
    pos_offset: int = 0  # RoBERTa numbers positions from padding_idx + 1
    sliding_window: int | None = None  # Mistral: a query sees at most this many keys (itself included)
    embed_scale: float = 1.0  # Marian multiplies token embeddings by √d_model
    n_decoder_layers: int = 0  # > 0 for encoder-decoders; n_layers then counts the encoder's layers
    decoder_start_token_id: int | None = None
    attn_bias: bool = False
    mlp_bias: bool = False
    tie_embeddings: bool = False
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    display_name: str = ""

    @property
    def has_lm_head(self) -> bool:
        """Decoders predict the next token; the encoders we load have no language-model head."""
        return self.arch in ("llama", "gpt2", "marian-decoder")

    @property
    def is_encoder_decoder(self) -> bool:
        return self.n_decoder_layers > 0

    @property
    def group_size(self) -> int:
        """Query heads per key/value head (1 without grouped-query attention)."""
        return self.n_heads // self.n_kv_heads

    def kv_head(self, head: int) -> int:
        """The key/value head that query head `head` reads (consecutive query heads share one, as in HF and SDPA)."""
        return head // self.group_size

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
