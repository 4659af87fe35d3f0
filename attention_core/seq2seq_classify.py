"""An encoder-decoder's sequence classifier, BART's (facebook/bart-large-mnli; loading/classifier_head.py reads its
head), mBART's and PLBART's. transformers' BartForSequenceClassification runs the encoder on the text and the decoder
on the same ids shifted right, after the decoder's start token (so decoder position i reads text token i − 1, and the
encoder's whole text through cross-attention); mBART's and PLBART's shift moves the text's last token (its language
code, after the </s>) to the front instead (`decoder_start`). The head reads the decoder's last hidden state at the
text's last </s>:

    logits = tanh(h_dec[eos] · W_pool + b_pool) · W_out + b_out     [n_labels]

The pass keeps that one position's residual before each decoder block and after the last (Captured.decoder_eos);
classify.py reads the head from each, the verdict layer by layer over the decoder's blocks. The head ranking (sweep.py)
reruns the encoder for each ablated head and reads each variant through a decoder pass (`decoder_readout`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .config import ModelConfig
from .context import PassContext
from .model import Captured
from .seq2seq import CapturedDecoder, DecoderView, decoder_view, encoder_output, end_ids, run_decoder
from .sweep import Readout

DECODER_EOS = "decoder_eos"  # ModelConfig.class_pool of such a classifier
WRAPPED = ("mbart", "plbart")  # archs whose shift_tokens_right starts the decoder with the text's last token


def decoder_start(cfg: ModelConfig, ids: list[int]) -> int:
    """The token the classifier's decoder reads first, before `ids` (the encoder's) shifted right: mBART's and
    PLBART's, the last of them (their language code); else the decoder's start token."""
    return ids[-1] if cfg.arch in WRAPPED else cfg.decoder_start_token_id or 0


def decoder_eos_states(
    model: PassContext, view: DecoderView, ids: torch.Tensor, captured: Captured
) -> list[torch.Tensor]:
    """(d_model,) × (n_decoder_layers + 1): the decoder's residual at the last </s> of `ids` (the encoder's input,
    (n,)), before each decoder block and after the last, the decoder (`view`, split out of `model`) reading `ids`
    shifted right over the encoder's output in `captured` (an intervention there reaches the verdict through it)."""
    decoded, at = _decoded(model, view, ids, captured.resid_pre[-1])
    return [h[at].clone() for h in decoded.resid_pre]  # a copy: a view would keep every (n, d_model) residual


def decoder_readout(model: PassContext, ids: list[int], read: Callable[[torch.Tensor], torch.Tensor]) -> Readout:
    """The head ranking's readout for such a classifier (sweep.py): each variant's final encoder residual
    (..., n, d_model) read by the decoder, then its last-</s> residual (1, d_model) through `read` (the head's log
    scores, (n_labels,)): (..., n_labels). One decoder pass per variant."""
    view, ids_t = decoder_view(model), torch.tensor(ids, dtype=torch.long, device=model.device)

    def readout(h: torch.Tensor) -> torch.Tensor:
        flat = h.reshape(-1, *h.shape[-2:])  # (variants, n, d_model)
        rows = [read(_final_state(model, view, ids_t, x)[None]) for x in flat]  # each (n_labels,)
        return torch.stack(rows).reshape(*h.shape[:-2], -1)

    return readout


def _final_state(model: PassContext, view: DecoderView, ids: torch.Tensor, resid_final: torch.Tensor) -> torch.Tensor:
    """(d_model,): the decoder's last residual at the last </s>, over an encoder that ended in `resid_final`."""
    decoded, at = _decoded(model, view, ids, resid_final)
    return decoded.resid_pre[-1][at]


def _decoded(
    model: PassContext, view: DecoderView, ids: torch.Tensor, resid_final: torch.Tensor
) -> tuple[CapturedDecoder, int]:
    """The decoder's pass over `ids` (n,) shifted right, reading the encoder's output from its final residual
    (n, d_model); and the position of the last </s> in `ids`."""
    enc_out = encoder_output(resid_final, model.pass_weights, model.config)  # (n, d_model)
    dcfg, dw = view.context.config, view.context.pass_weights
    shifted = torch.cat([ids.new_tensor([decoder_start(model.config, ids.tolist())]), ids[:-1]])  # (n,)
    ends = end_ids(model.config)
    at = max((i for i, t in enumerate(ids.tolist()) if t in ends), default=len(ids) - 1)  # the last </s>
    return run_decoder(shifted, enc_out, dw, view.cross_weights, dw, dcfg), at
