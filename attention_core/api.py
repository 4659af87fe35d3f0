"""The public entry points: `load_model(name)` → `Model`, and `Model.trace(text)` → `Trace`."""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import torch
from tokenizers import Tokenizer

from . import backend, blocks, first_pass, memory
from . import interventions as iv
from . import model as fwd
from .config import ModelConfig
from .context import PassContext
from .device import pick_device
from .dtypes import dtype_name, resolve_dtype
from .errors import InputError, ModelLoadError
from .generation import Generation, prompt_text, run_generation
from .languages import with_language
from .loading import cache
from .loading.gguf import convert_gguf
from .loading.safetensors_hf import convert_hf_folder
from .pairs import EncoderDecoderRuns
from .params import count_per_layer, count_weights
from .registry import resolve
from .seq2seq import DecoderView
from .shared_layers import share_layers
from .tokenizer import PAIR_JOIN, Encoding, TextTokenizer
from .trace import Trace

Progress = Callable[[float, str], None]
DEFAULT_MAX_TOKENS = 4096


class Model(EncoderDecoderRuns):
    """A loaded model: config, canonical weights on one device, tokenizer. Read-only once built."""

    def __init__(
        self,
        config: ModelConfig,
        weights: Mapping[str, torch.Tensor],
        tokenizer: Tokenizer,
        device: torch.device,
        source: Path | None = None,
        notes: list[str] | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        self.config = config
        self.name = config.name
        self.device = device
        self.dtype = dtype  # the weights' and the pass's dtype; what a trace shows is float32 (dtypes.py)
        # Cast once, tensor by tensor, as each moves: a half-precision load never holds a second full copy.
        on_device = {k: v.to(device=device, dtype=dtype) for k, v in weights.items()}
        fast = backend.prepare_pass_weights(on_device, config, device, dtype)  # what the forward pass reads
        # Canonical entries that the pass holds unpacked (views into its fused buffers) are kept from there:
        # stored once. Layers that share weights (ALBERT) read them under their own names (shared_layers.py).
        self.weights = share_layers(blocks.canonical_views(on_device, fast), config)
        pass_weights = share_layers(fast, config)
        if backend.packs_on(device, dtype):  # the pass reads packed copies: the mapped cache file may leave memory
            backend.release_pages(self.weights.values())
        self.tokenizer = TextTokenizer(tokenizer)
        self.source = source
        self.context = PassContext(
            name=self.name,
            key=self.key,
            config=config,
            weights=self.weights,
            pass_weights=pass_weights,
            tokenizer=self.tokenizer,
            device=device,
            dtype=dtype,
        )
        # Things the user should know about this model and this load: how its file was read, a rebuilt cache.
        self.notes = [*config.conversion_notes, *(notes or [])]
        # Sliding windows are in the masks (model.py), so a text may run past the window.
        self.max_tokens = min(config.n_ctx, DEFAULT_MAX_TOKENS)
        self._cpu: Model | None = None  # made on the first accelerator out-of-memory error
        self._twin_lock = threading.Lock()
        self._decoder: DecoderView | None = None  # encoder-decoders: the decoder's weights, made on first use

    @property
    def key(self) -> str:
        """Identifies the weights for caches: two local folders may share a name, never a source path; the
        same weights in half precision give other numbers (a float32 model's key has no dtype in it)."""
        half = "" if self.dtype == torch.float32 else f"/{dtype_name(self.dtype)}"
        return f"{self.name}@{self.source}{half}"

    def __repr__(self) -> str:
        c, dtype = self.config, dtype_name(self.dtype)
        shape = f"{c.n_layers} layers × {c.n_heads} heads"
        return f"Model({self.name!r}, {c.arch}, {shape}, device={self.device}, {dtype=})"

    # ── running ───────────────────────────────────────────────────────────────────────────────────
    def trace(
        self,
        text: str,
        causal: bool | None = None,
        max_tokens: int | None = None,
        interventions: list[iv.Intervention] | tuple[iv.Intervention, ...] = (),
        progress: Progress | None = None,
        second_text: str | None = None,
    ) -> Trace:
        """Run the model on `text` and capture what attention needs.

        causal=None uses the model's own masking; True/False forces a causal mask on/off in every layer.
        Text longer than `max_tokens` (default `self.max_tokens`) is cut; `trace.truncated` says so.
        `interventions` (see attention_core.interventions) change heads or layers during the pass.
        `progress(fraction, message)` is called after each layer (long inputs take seconds).
        `second_text`: an encoder's text pair (a cross-encoder's passage, an NLI hypothesis), laid out by the
        tokenizer's pair template with its segments; the trace's text is then both, joined by a line break.
        """
        ivs = iv.validate(interventions, self.config.n_layers, self.config.n_heads, self.config.attention_layers)
        if second_text is None:
            return self._trace_encoding(text, self._encoding(text, max_tokens), causal, ivs, progress)
        if not self.reads_two_texts:
            raise InputError(
                f"{self.name} reads one text: a text pair is for an encoder (BERT's kin, a cross-encoder) whose "
                "tokenizer has a pair template."
            )
        enc = self.tokenizer.encode_two_texts(text, second_text, self._cap(max_tokens))
        return self._trace_encoding(text + PAIR_JOIN + second_text, self._model_segments(enc), causal, ivs, progress)

    @property
    def reads_two_texts(self) -> bool:
        """Whether `trace` takes a `second_text`: an encoder (not a decoder; an encoder-decoder only as BART's
        classifier, an NLI model's) whose tokenizer has a pair template."""
        cfg, tokenizer = self.config, self.tokenizer  # an encoder-decoder with labels: BART's (seq2seq_classify.py)
        return not cfg.causal and (not cfg.is_encoder_decoder or bool(cfg.class_labels)) and tokenizer.reads_two_texts

    def _model_segments(self, enc: Encoding) -> Encoding:
        """`enc` with the segments this model reads: a model with one segment embedding (RoBERTa's kin) puts every
        token in segment 0, as transformers does (their tokenizers give such a model no type ids)."""
        kinds = self.weights["embed.W_type"].shape[0] if "embed.W_type" in self.weights else 0
        if enc.segments is None or max(enc.segments.ids) < kinds:
            return enc
        return replace(enc, segments=replace(enc.segments, ids=(0,) * len(enc.ids)))

    def _cap(self, max_tokens: int | None) -> int:
        """The token cap (default `self.max_tokens`), checked against the model's context."""
        cap = self.max_tokens if max_tokens is None else max_tokens
        if not 1 <= cap <= self.config.n_ctx:
            raise InputError(f"The token cap must be between 1 and {self.config.n_ctx} for {self.name}.")
        return cap

    def _encoding(self, text: str, max_tokens: int | None, language: str | None = None) -> Encoding:
        """`text`'s tokens under the cap (default `self.max_tokens`), its language token `language` where given."""
        encoding = self.tokenizer.encode(text, self._cap(max_tokens))
        return with_language(encoding, self.tokenizer, language, self.languages)

    def _trace_encoding(self, text: str, enc: Encoding, causal: bool | None, ivs, progress: Progress | None) -> Trace:
        use_causal = self.config.causal if causal is None else bool(causal)
        on_layer = None
        if progress is not None:
            on_layer = lambda done, total: progress(done / total, f"Layer {done} of {total}")  # noqa: E731
        runner, notes = self, []
        segments = None if enc.segments is None else enc.segments.ids
        try:
            captured = self._run(enc.ids, use_causal, ivs, on_layer, segments)
        except torch.OutOfMemoryError:
            if self.device.type == "cpu":
                raise InputError(f"Not enough memory for {len(enc.ids)} tokens: lower the token cap.") from None
            # The GPU is full (other users, a long text): finish this request on the CPU, and say so.
            runner = self._cpu_twin()
            captured = runner._run(enc.ids, use_causal, ivs, on_layer, segments)
            where = "the CPU" if self.dtype == torch.float32 else "the CPU (in float32)"
            notes.append(f"The {self.device.type.upper()} ran out of memory; this trace ran on {where} instead.")
        except RuntimeError as exc:  # the CPU allocator reports exhaustion as a RuntimeError
            if "can't allocate memory" not in str(exc) and "not enough memory" not in str(exc):
                raise
            raise InputError(f"Not enough memory for {len(enc.ids)} tokens: lower the token cap.") from None
        return Trace(
            context=runner.context,
            notes=notes,
            text=text,
            token_ids=enc.ids,
            tokens=enc.tokens,
            offsets=enc.offsets,
            causal=use_causal,
            truncated=enc.truncated,
            n_input_tokens=enc.n_input_tokens,
            captured=captured,
            interventions=ivs,
            segments=enc.segments,
        )

    def trace_ids(self, token_ids: list[int], causal: bool | None = None) -> Trace:
        """Run the model on token ids chosen directly (e.g. the atlas's repeated random tokens), not on a text.

        The ids are used as given: no special tokens are added and no cap applies beyond the model's context.
        """
        vocab = self.config.d_vocab
        if not 1 <= len(token_ids) <= self.config.n_ctx or not all(0 <= int(i) < vocab for i in token_ids):
            raise InputError(f"Token ids must be 1 to {self.config.n_ctx} ids, each in [0, {vocab}).")
        ids = [int(i) for i in token_ids]
        use_causal = self.config.causal if causal is None else bool(causal)
        tokens = [self.tokenizer.decode_token(i) for i in ids]
        return Trace(
            context=self.context,
            text="".join(tokens),
            token_ids=ids,
            tokens=tokens,
            offsets=[(0, 0)] * len(ids),
            causal=use_causal,
            truncated=False,
            n_input_tokens=len(ids),
            captured=self._run(ids, use_causal, [], None),
        )

    def generate(
        self,
        text: str,
        max_new_tokens: int = 30,
        temperature: float = 0.0,
        seed: int = 0,
        interventions: list[iv.Intervention] | tuple[iv.Intervention, ...] = (),
        top_k: int = 5,
        prompt_trace: Trace | None = None,
        max_tokens: int | None = None,
    ) -> Generation:
        """Continue `text` by up to `max_new_tokens` tokens with a key/value cache (attention_core/generation.py).

        temperature 0 is greedy; otherwise each token is sampled from softmax(logits / temperature) with a
        generator seeded by `seed`, so the same arguments give the same text on the same device.
        `interventions` apply in every layer at every step. Stops early at the end-of-text token.
        `prompt_trace`: a trace of this model on exactly the prompt's tokens (causal, no interventions), whose
        captures are reused instead of running the prompt again; any other trace is ignored.
        `max_tokens`: the prompt's token cap; the prompt is also at most `self.max_tokens` (the longest pass, the
        context up to 4,096) less the new tokens. A longer text is cut there, as every trace cuts it: the
        continuation follows the tokens read, `Generation.prompt` is the text up to the last of them and
        `trace.truncated` says so.
        """
        if not self.config.has_lm_head or not self.config.causal or self.config.is_encoder_decoder:
            kind = "an encoder-decoder: greedy_target(source) writes a target" if self.config.is_encoder_decoder else (
                "an encoder"
            )
            raise InputError(f"{self.name} does not predict next tokens from a text ({kind}): nothing to generate.")
        if not 1 <= int(max_new_tokens) < self.max_tokens:
            raise InputError(f"Generate between 1 and {self.max_tokens - 1} new tokens.")
        if not (temperature >= 0 and math.isfinite(temperature)):
            raise InputError("The temperature must be 0 (greedy) or a positive number.")
        ivs = iv.validate(interventions, self.config.n_layers, self.config.n_heads, self.config.attention_layers)
        room = self.max_tokens - int(max_new_tokens)  # the new tokens must fit after the prompt
        if max_tokens is not None and not 1 <= max_tokens <= self.config.n_ctx:
            raise InputError(f"The token cap must be between 1 and {self.config.n_ctx} for {self.name}.")
        enc = self.tokenizer.encode(text, room if max_tokens is None else min(room, int(max_tokens)))
        text, unfinished = prompt_text(text, enc)  # a cut text ends where the model stopped reading
        k = max(1, min(int(top_k), self.config.d_vocab))
        reuse = None
        if prompt_trace is not None and self._same_prompt(prompt_trace, enc.ids, ivs):
            reuse = prompt_trace.captured
        return run_generation(
            self.context, enc, text, int(max_new_tokens), float(temperature), int(seed), ivs, k, prompt_capture=reuse,
            unfinished=unfinished,
        )

    def _same_prompt(self, trace: Trace, ids: list[int], ivs: tuple[iv.Intervention, ...]) -> bool:
        """Whether `trace` computed exactly what the prompt's own chunk would: this model's weights on this
        device, the same token ids, the causal mask, and no interventions in it or in the generation."""
        return (
            trace.context is self.context and list(trace.token_ids) == list(ids) and trace.causal
            and not trace.interventions and not ivs
        )  # fmt: skip

    def _run(
        self, ids: list[int], causal: bool, ivs, on_layer, segments: tuple[int, ...] | None = None
    ) -> fwd.Captured:
        with torch.inference_mode():
            ids_t = torch.tensor(ids, dtype=torch.long, device=self.device)
            kinds = None if segments is None else torch.tensor(segments, dtype=torch.long, device=self.device)
            captured = fwd.run(ids_t, self.context.pass_weights, self.config, causal, ivs, on_layer, kinds)
            self._read_decoder(ids_t, captured)  # BART's classifier reads its decoder (pairs.py)
        if len(ids) > 256:  # long passes leave tens of MB of freed heap behind: give it back (backend/heap.py)
            backend.trim_heap()
        return captured

    def _cpu_twin(self) -> Model:
        """A CPU copy of this model, made once, for requests the accelerator has no memory for: in float32, the
        CPU's dtype (half-precision weights upcast exactly, so it runs the same weights in more precision)."""
        with self._twin_lock:
            if self._cpu is None:
                self._cpu = Model(
                    self.config, self.weights, self.tokenizer.tokenizer, torch.device("cpu"), self.source, self.notes
                )
            return self._cpu

    # ── weights, per head, in math orientation ────────────────────────────────────────────────────
    def W_Q(self, layer: int) -> torch.Tensor:
        """[n_heads, d_model, d_head] query maps."""
        return blocks.per_head_weight(self.weights, self.config, layer, "W_Q")

    def W_K(self, layer: int) -> torch.Tensor:
        """[n_kv_heads, d_model, d_head] key maps."""
        return blocks.per_head_weight(self.weights, self.config, layer, "W_K")

    def W_V(self, layer: int) -> torch.Tensor:
        """[n_kv_heads, d_model, d_head] value-down maps."""
        return blocks.per_head_weight(self.weights, self.config, layer, "W_V")

    def W_O(self, layer: int) -> torch.Tensor:
        """[n_heads, d_head, d_model] value-up maps; stacked over heads they are the output matrix."""
        return blocks.per_head_weight(self.weights, self.config, layer, "W_O")

    # ── sizes ─────────────────────────────────────────────────────────────────────────────────────
    def parameter_counts(self) -> dict[str, int]:
        """Exact count by component; 'total' equals the sum of every tensor's size."""
        return count_weights(self.weights)

    def parameter_counts_per_layer(self) -> list[dict[str, int]]:
        return count_per_layer(self.weights, self.config)


_load_lock = threading.Lock()  # two sessions converting the same file at once would do the work twice


def load_model(
    name: str,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    progress: Progress | None = None,
) -> Model:
    """Load an embedded model ('smollm2-135m', 'minilm-l6') or a local GGUF file / model folder.

    The first load converts the source into a float32 safetensors cache under the user's cache folder
    ($ATTN_CACHE_DIR overrides it); later loads read that cache. `dtype`: the weights' dtype, None or
    "float32" (the default), "bfloat16" or "float16" (or the torch dtypes), cast once after reading them;
    float16 is refused on the CPU (attention_core/dtypes.py says where each runs). `progress(fraction,
    message)` is called as loading proceeds. Raises UnknownModelError or ModelLoadError with a message.
    """
    report = progress or (lambda fraction, message: None)
    target = pick_device(device)
    weight_dtype = resolve_dtype(dtype, target)  # a bad dtype is refused before any file is read
    source = resolve(name)
    folder = cache.entry_dir(source.name, source.path)
    notes: list[str] = []
    # Refuse a model that would not fit before reading any weights (headers only). A file too damaged to
    # size is left to the loader below, which says what is wrong with it (or rebuilds a damaged cache).
    cached = folder / cache.WEIGHTS
    converting = not cached.is_file()
    try:
        size = memory.float32_bytes(*(("safetensors", cached) if not converting else (source.kind, source.path)))
    except ModelLoadError:
        size = None
    if size is not None:
        memory.check_fits(source.name, size, target, converting=converting, dtype=weight_dtype)
    with _load_lock:
        report(0.0, f"Looking for converted weights of {source.name}")
        try:
            config, weights, tokenizer = cache.read_entry(folder)
        except (FileNotFoundError, cache.CacheCorrupt) as exc:
            if isinstance(exc, cache.CacheCorrupt):
                note = (f"The converted-weight cache at {folder} was damaged ({exc}); it was rebuilt from "
                        f"{source.path.name}.")
                warnings.warn(note, stacklevel=2)
                notes.append(note)
                cache.remove_entry(folder)
            config, weights, tokenizer = _convert_and_cache(source, folder, report)
            converting = True
    report(0.97, f"Moving weights to {target.type} in {dtype_name(weight_dtype)}")
    model = Model(config, weights, tokenizer, target, source.path, notes, weight_dtype)
    if converting:  # a config its weights do not back; an entry on disk passed this when it was written
        first_pass.refuse_unrunnable(model, lambda: cache.remove_entry(folder))
    report(1.0, "Ready")
    return model


def _convert_and_cache(source, folder: Path, report: Progress):
    report(0.02, f"Converting {source.path.name} (first load only)")
    config, weights, tokenizer = _convert(source, report, 0.05, 0.8)
    report(0.85, "Writing the converted-weight cache")
    try:
        cache.write_entry(folder, config, weights, tokenizer, source.path)
    except OSError as exc:  # a read-only or full disk costs speed next time, not correctness now
        warnings.warn(f"Could not write the weight cache at {folder}: {exc}", stacklevel=3)
        return config, weights, tokenizer
    # Serve from the cache just written, as a warm load would: its tensors are a file mapping whose pages
    # leave resident memory once packed (backend/memory_pages.py), where the converted ones would stay on
    # the heap. Dropped before reading back, so the two copies are never resident together.
    del weights
    backend.trim_heap()
    try:
        return cache.read_entry(folder)
    except (FileNotFoundError, cache.CacheCorrupt):  # replaced or damaged since we wrote it: convert again
        report(0.86, f"Converting {source.path.name} again: the cache changed while it was being read")
        return _convert(source, report, 0.86, 0.95)


def _convert(source, report: Progress, lo: float, hi: float):
    """Config, canonical float32 weights and tokenizer from the source file; progress runs from lo to hi."""
    sub: Progress = lambda f, msg: report(lo + (hi - lo) * f, msg)  # noqa: E731
    if source.kind == "gguf":
        return convert_gguf(source.path, source.name, sub)
    return convert_hf_folder(source.path, source.name, sub)


__all__ = ["Model", "load_model", "ModelLoadError"]
