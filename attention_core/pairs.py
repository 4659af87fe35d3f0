"""What a Model does with an encoder-decoder (T5, BART, Marian, NLLB): run its encoder and decoder on a source and
a target, let its decoder write the target, and mark each text with its language where the model has languages.

A mixin of attention_core.api.Model, kept apart so that api.py stays one screenful per job: it uses the Model's
config, tokenizer, context, `_encoding` (a text's tokens under a cap, with a language), `_trace_encoding` (a Trace
of them), and the `_twin_lock` and `_decoder` it sets up.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import torch

from .config import ModelConfig
from .context import PassContext
from .errors import InputError
from .languages import language_id, language_tokens, leading_token
from .model import Captured
from .seq2seq import (
    CrossAttention,
    DecoderView,
    GreedyTarget,
    PairTrace,
    decoder_trace,
    decoder_view,
    encoder_output,
    greedy_target,
)
from .seq2seq_classify import DECODER_EOS, decoder_eos_states, decoder_start
from .tokenizer import Encoding, TextTokenizer
from .trace import Trace


class EncoderDecoderRuns:
    """Model's encoder-decoder methods. They read the Model's attributes below and its `_encoding(text,
    max_tokens, language)` (an Encoding) and `_trace_encoding(text, encoding, causal, interventions, progress)`."""

    config: ModelConfig
    tokenizer: TextTokenizer
    context: PassContext
    max_tokens: int
    name: str
    _twin_lock: threading.Lock
    _decoder: DecoderView | None
    trace: Callable[..., Trace]  # Model.trace (the classifier's pass starts with its encoder's trace)

    @functools.cached_property
    def languages(self) -> tuple[str, ...]:
        """A multilingual translation model's language tokens ("eng_Latn", "fra_Latn", ...: NLLB-200, mBART-50),
        which trace_pair's and greedy_target's source_language and target_language take; () for other models."""
        return language_tokens(self.tokenizer) if self.config.is_encoder_decoder else ()

    @functools.cached_property
    def default_language(self) -> str | None:
        """The language token the tokenizer marks every text with (None without `languages`)."""
        return leading_token(self.tokenizer) if self.languages else None

    def trace_pair(
        self, source: str, target: str, max_tokens: int | None = None,
        source_language: str | None = None, target_language: str | None = None,
    ) -> PairTrace:  # fmt: skip
        """Encoder-decoders: run the encoder on `source` and the decoder on `target` (teacher forcing).

        The decoder's inputs are the start token followed by the target's tokens, so query i predicts
        target token i + 1; `trace.cross.pattern(l, h)` is [n_target, n_source]. Models with `languages`: each
        text's language token is the one named (None: `default_language`), as transformers' tokenizer marks a
        source with src_lang and a target with tgt_lang.
        """
        encoder, enc_out = self._encode(source, max_tokens, source_language)
        view = self._decoder_view()
        cap = min(self.max_tokens if max_tokens is None else max_tokens, self.config.decoder_positions)  # LED: fewer
        decoder = decoder_trace(view, enc_out, target, self._encoding(target, cap - 1, target_language))
        return PairTrace(source, target, encoder, decoder, CrossAttention(view, decoder.captured))

    def greedy_target(
        self, source: str, max_new_tokens: int = 64, max_tokens: int | None = None,
        source_language: str | None = None, target_language: str | None = None,
    ) -> GreedyTarget:  # fmt: skip
        """Encoder-decoders: the target the decoder writes itself for `source`, token by token (greedy, at most
        `max_new_tokens`; seq2seq.greedy_target). trace_pair(source, result.text) then shows how it read the source.
        Models with `languages`: the source is marked `source_language`, and `target_language` is written first (as
        transformers' forced_bos_token_id), in place of the config's own forced first token."""
        if self.config.class_labels:  # BART's classifier: its decoder feeds a classifier's head
            raise InputError(f"{self.name} is a classifier: it writes no target (it has no language-model head).")
        cap = min(self.max_tokens if max_tokens is None else max_tokens, self.config.decoder_positions)
        if not 1 <= int(max_new_tokens) <= cap - 1:
            raise InputError("The number of new tokens must be at least 1 and fit under the token cap.")
        first = None if target_language is None else language_id(self.tokenizer, target_language, self.languages)
        enc_out = self._encode(source, max_tokens, source_language)[1]
        return greedy_target(self._decoder_view(), enc_out, int(max_new_tokens), first)

    def trace_classifier_pass(
        self, text: str, second_text: str | None = None, max_tokens: int | None = None
    ) -> PairTrace:
        """An encoder-decoder's sequence classifier (BART's, mBART's, PLBART's): the pass its verdict reads, as a
        PairTrace: the encoder over `text` (with a `second_text`, as trace takes one), the decoder over the same ids
        shifted right after its start token (seq2seq_classify.decoder_start), whose residual at the last </s> the head
        reads."""
        if self.config.class_pool != DECODER_EOS:
            raise InputError(f"{self.name} is not a sequence classifier built on an encoder-decoder (BART's): use "
                             "trace_pair(source, target).")  # fmt: skip
        encoder = self.trace(text, max_tokens=max_tokens, second_text=second_text)
        with torch.inference_mode():
            enc_out = encoder_output(encoder.captured.resid_pre[-1], self.context.pass_weights, self.config)
        e, view = encoder, self._decoder_view()
        shifted = Encoding(e.token_ids[:-1], e.tokens[:-1], e.offsets[:-1], e.n_tokens - 1, truncated=False)
        start = decoder_start(self.config, e.token_ids)  # reads [start, *ids[:-1]]: shift_tokens_right
        decoder = decoder_trace(view, enc_out, e.text, shifted, start)
        return PairTrace(e.text, e.text, encoder, decoder, CrossAttention(view, decoder.captured))

    def _encode(self, source: str, max_tokens: int | None, language: str | None) -> tuple[Trace, torch.Tensor]:
        """The encoder's trace of `source`, and its output as the decoder's cross-attention reads it."""
        if not self.config.is_encoder_decoder:
            raise InputError(f"{self.name} is not an encoder-decoder: use trace(text).")
        encoder = self._trace_encoding(source, self._encoding(source, max_tokens, language), None, (), None)
        with torch.inference_mode():
            return encoder, encoder_output(encoder.captured.resid_pre[-1], self.context.pass_weights, self.config)

    def _read_decoder(self, ids: torch.Tensor, captured: Captured) -> None:
        """After the encoder's pass on `ids`: BART's classifier's decoder run over them, its residual at the last </s>
        kept in `captured` (seq2seq_classify.py); nothing for any other model."""
        if self.config.class_pool == DECODER_EOS:
            captured.decoder_eos = decoder_eos_states(self.context, self._decoder_view(), ids, captured)

    def _decoder_view(self) -> DecoderView:
        with self._twin_lock:
            if self._decoder is None:
                self._decoder = decoder_view(self.context)
            return self._decoder
