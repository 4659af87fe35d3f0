"""Hugging Face folders (config.json + model.safetensors + tokenizer.json) → canonical weights.

Only safetensors are read (never pickle), and no code from the folder is run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch
from tokenizers import Tokenizer

from ..config import ModelConfig
from ..config_check import refuse_absurd_depth
from ..errors import ModelLoadError
from . import aqlm, awq, bnb, compressed_tensors, fp8, gptq, mlx_quantised, mxfp4
from .classifier_head import (
    attach_classifier_head,
    is_decoder_classifier,
    is_seq2seq_classifier,
    refuse_unread_head,
)
from .json_file import read_json
from .masked_lm import attach_masked_lm_head
from .shape_check import check_shapes, refusing_misfits
from .slow_tokenizer import SLOW_FILES, tokenizer_from_slow_files

Progress = Callable[[float, str], None]


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise ModelLoadError(f"Weight file not found: {path}")
    try:
        return load_file(str(path))
    except Exception as exc:  # SafetensorsError on a bad header, truncated data, ...
        raise ModelLoadError(f"{path.name} is not a readable safetensors file (truncated or corrupt?): {exc}") from exc


# SentencePiece models of a tokenizer class not built here (Marian's pair of them): a folder with only these is told
# how to write a tokenizer.json. (slow_tokenizer.py reads the SLOW_FILES: WordPiece's, byte-level BPE's, and T5's,
# DeBERTa-v2's, XLM-R's and Llama's SentencePiece models.)
SENTENCEPIECE_FILES = ("source.spm", "target.spm")


def read_tokenizer(folder: Path, model_type: str | None = None) -> Tokenizer:
    """The folder's tokenizer.json or, when it has none, a tokenizer built from its slow tokenizer's files."""
    path = folder / "tokenizer.json"
    if path.is_file():
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:
            raise ModelLoadError(f"{path.name} is not a readable tokenizer.json: {exc}") from exc
    else:
        tokenizer = tokenizer_from_slow_files(folder, model_type) or _no_tokenizer(folder)
    # The engine applies its own token cap with a visible notice; a silent cut or padding would hide tokens.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _no_tokenizer(folder: Path) -> Tokenizer:
    path = folder / "tokenizer.json"
    pieces = sorted(name for name in SENTENCEPIECE_FILES if (folder / name).is_file())
    if pieces:
        raise ModelLoadError(
            f"Tokenizer file not found: {path}. The folder has {', '.join(pieces)} (a SentencePiece model of a "
            "kind not read here) but no tokenizer.json; with transformers installed, "
            "AutoTokenizer.from_pretrained(folder).save_pretrained(folder) writes one."
        )
    raise ModelLoadError(f"Tokenizer file not found: {path} (nor any slow tokenizer's files: {', '.join(SLOW_FILES)}).")


def safetensors_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():  # sharded checkpoints list their shards in an index
        shards = sorted(set(read_json(index).get("weight_map", {}).values()))
        return [folder / s for s in shards]
    single = folder / "model.safetensors"
    if single.is_file():
        return [single]
    if any(folder.glob("*.bin")) or any(folder.glob("*.pt")) or any(folder.glob("*.pth")):
        raise ModelLoadError(
            f"{folder.name} has only PyTorch pickle weights (.bin/.pt); they can run code when read, so only "
            "safetensors are loaded. Convert the checkpoint to safetensors first."
        )
    raise ModelLoadError(f"No model.safetensors in {folder}.")


def safetensors_float32_bytes(files: list[Path]) -> int:
    """Size of the checkpoint once converted to float32, from the safetensors headers alone (and, for packed
    integers, the width config.json gives them)."""
    from safetensors import safe_open

    total, bits = 0, _packed_bits(files[0].parent / "config.json") if files else 4
    per_code = _values_per_code(files[0].parent / "config.json") if files else 8
    for f in files:
        try:
            with safe_open(str(f), "pt") as handle:
                for key in handle.keys():
                    tensor = handle.get_slice(key)
                    n = 1
                    for dim in tensor.get_shape():
                        n *= dim
                    total += _float32_bytes(key, tensor.get_dtype(), n, bits, per_code)
        except Exception as exc:
            raise ModelLoadError(f"{f.name} is not a readable safetensors file (truncated or corrupt?): {exc}") from exc
    return total


def _packed_bits(config: Path) -> int:
    """The width of a compressed-tensors, GPTQ, AWQ or MLX checkpoint's packed integers (4 where config.json does not
    say)."""
    try:
        quant = _quantization(read_json(config)) if config.is_file() else None
        if quant and quant.get("quant_method") in ("gptq", "awq"):
            return int(quant.get("bits", 4))
        if quant and "quant_method" not in quant:  # MLX's table: its narrowest width, so no module is undercounted
            own = [entry["bits"] for entry in quant.values() if isinstance(entry, dict) and "bits" in entry]
            return int(min([quant.get("bits", 4), *own]))
        return int(compressed_tensors.weight_settings(quant)[1].get("num_bits", 4)) if quant else 4
    except (ModelLoadError, TypeError, ValueError):
        return 4  # the loader says what is wrong with it; the memory check only needs a width


def _values_per_code(config: Path) -> int:
    """The weights one AQLM code stands for: a group of out_group_size × in_group_size values, shared among
    num_codebooks codes (8 where config.json does not say: AQLM's 1x16 and 2x8 layouts)."""
    try:
        quant = _quantization(read_json(config)) if config.is_file() else None
        if quant and quant.get("quant_method") == "aqlm":
            in_group, out_group, books, _ = aqlm.settings(quant)
            return max(1, in_group * out_group // books)
    except (ModelLoadError, TypeError, ValueError):
        pass  # the loader says what is wrong with it; the memory check only needs a count
    return 8


def _float32_bytes(key: str, dtype: str, n: int, bits: int = 4, per_code: int = 8) -> int:
    """A stored tensor's float32 size: MXFP4's (mxfp4.py) bytes of _blocks hold two values each, and its _scales
    are no weights once decoded; an AQLM code stands for `per_code` weights, its codebooks for none."""
    if key.endswith(".codes") and dtype in ("I8", "I16", "I32"):
        return 4 * n * per_code
    if key.endswith(".codebooks"):  # AQLM's: no weights once decoded
        return 0
    if dtype == "U8" and key.endswith("_blocks"):
        return 8 * n
    if dtype == "U8" and key.endswith("_scales"):
        return 0
    if key.endswith(fp8.SCALES + fp8.DROPPED):  # an FP8 checkpoint's scales: no weights once decoded
        return 0
    if dtype == "U8" and key.endswith((".weight_packed", ".weight")):  # NVFP4, bitsandbytes' 4 bits: two values a byte
        return 8 * n
    if dtype == "I32" and key.endswith((".weight_packed", ".qweight")):  # compressed-tensors, GPTQ, AWQ: 32 / bits
        return -(-4 * 32 * n // bits)
    if dtype == "U32" and key.endswith(".weight"):  # MLX (a mixed recipe's narrowest width: never undercounted)
        return -(-4 * 32 * n // bits)
    return 4 * n


def hf_config_and_tokenizer(folder: Path, name: str) -> tuple[ModelConfig, Tokenizer]:
    """A Hugging Face folder's config and tokenizer, without its weights (what a job checks its settings against)."""
    _, config, tokenizer = _read_config_and_tokenizer(folder, name)
    return config, tokenizer


def _generation_fields(folder: Path) -> dict:
    """What the engine reads from generation_config.json where config.json does not say it: the token an
    encoder-decoder writes first (BART's forced_bos_token_id; transformers 5 saves it there alone)."""
    path = folder / "generation_config.json"
    if not path.is_file():
        return {}
    read = read_json(path)
    return {key: read[key] for key in ("forced_bos_token_id",) if isinstance(read.get(key), int)}


def _read_config_and_tokenizer(folder: Path, name: str) -> tuple[dict, ModelConfig, Tokenizer]:
    """(config.json as read, the canonical config, tokenizer) of a folder: config.json read once for both callers."""
    from .hf_adapters import adapter_for

    if not folder.is_dir():
        raise ModelLoadError(f"Model folder not found: {folder}")
    hf = read_json(folder / "config.json")
    _refuse_misshapen(hf, folder)
    _refuse_quantised(hf, folder)
    hf = {**_generation_fields(folder), **hf}
    _refuse_absurd_depth(hf, folder)
    make_config = adapter_for(hf)[0]  # an unsupported model_type is its own message, outside the try
    try:
        config = make_config(hf, name)
    except (KeyError, TypeError, ValueError, ArithmeticError, IndexError, AttributeError) as exc:  # a field's kind
        kind = hf.get("model_type")
        raise ModelLoadError(f"config.json lacks or mangles a field the {kind} adapter needs: {exc}") from exc
    note = NOTES.get(_quant_method(hf) or "")
    if note:
        config = dataclasses.replace(config, conversion_notes=(*config.conversion_notes, note))
    return hf, config, read_tokenizer(folder, hf.get("model_type"))


# config.json's fields read before an adapter's own reading (whose slips are refused as a mangled field): their kind
# and, in words, what they must be
OUTER_FIELDS = {"model_type": (str, "a name"), "architectures": (list, "a list of class names"),
                "text_config": (dict, "a table")}  # fmt: skip


def _refuse_misshapen(hf: dict, folder: Path) -> None:
    """Raise ModelLoadError where a field in OUTER_FIELDS is not of its kind (model_type must be there)."""
    for field, (kind, said) in OUTER_FIELDS.items():
        value = hf.get(field)
        if not isinstance(value, kind) and (field == "model_type" or value is not None):
            raise ModelLoadError(f"{folder.name}: config.json's {field} is {value!r}, not {said}.")


def _refuse_absurd_depth(hf: dict, folder: Path) -> None:
    """config.json's layer count over config_check.MAX_LAYERS refused before an adapter lists each layer's kind."""
    for table in (hf, hf.get("text_config")):
        for key in ("num_hidden_layers", "n_layer", "num_layers", "n_layers"):
            try:
                refuse_absurd_depth(table.get(key) if isinstance(table, dict) else None, f"config.json's {key}")
            except ValueError as exc:
                raise ModelLoadError(f"{folder.name}: {exc}.") from exc


def _quantization(hf: dict) -> dict | None:
    """config.json's quantization_config (a multimodal model's text_config's), MLX's `quantization` table, or None."""
    if mlx_quantised.is_mlx(hf):
        return hf["quantization"]
    text = hf.get("text_config")  # not a table: sized as unquantised here, refused by _refuse_misshapen at the read
    quant = hf.get("quantization_config") or (text.get("quantization_config") if isinstance(text, dict) else None)
    return quant if isinstance(quant, dict) else ({} if quant else None)


def _quant_method(hf: dict) -> str | None:
    quant = _quantization(hf)
    if quant is not None and mlx_quantised.is_mlx(hf):
        return "mlx"
    return None if quant is None else str(quant.get("quant_method", "unknown"))


def _refuse_quantised(hf: dict, folder: Path) -> None:
    """A quantised checkpoint's stored numbers are not its weights (HQQ, Quanto, ... pack integers with their own zero
    points and groups): refused by name rather than read as if they were. The methods in DECODERS are decoded
    (GPT-OSS's MXFP4 experts only as OpenAI ships them); a setting of theirs the engine cannot decode is refused here
    (SETTINGS), before the weights are read."""
    method = _quant_method(hf)
    if method in SETTINGS:
        SETTINGS[method](_quantization(hf) or {})
    decoded = method in DECODERS and (method != "mxfp4" or hf.get("model_type") == "gpt_oss")
    if method is not None and not decoded:
        raise ModelLoadError(
            f"{folder.name} is quantised (quant_method {method!r}); the engine reads unquantised weights (float32, "
            "float16 or bfloat16). Load the unquantised checkpoint, or a GGUF file of the model."
        )


# Each decoded quantisation method: (state, quantization_config, file name) → state with float32 weights; and what
# the sidebar says of it (a decoded weight is not what a quantised kernel computes with).
Decoder = Callable[[dict[str, torch.Tensor], dict, str], dict[str, torch.Tensor]]
DECODERS: dict[str, Decoder] = {
    "mxfp4": lambda state, quant, name: mxfp4.dequantize_experts(state, name),
    "fp8": lambda state, quant, name: fp8.dequantize_checkpoint(state, fp8.block_size(quant), name),
    "compressed-tensors": compressed_tensors.decompress_checkpoint,
    "gptq": gptq.decompress_checkpoint,
    "awq": awq.decompress_checkpoint,
    "bitsandbytes": bnb.decompress_checkpoint,
    "mlx": mlx_quantised.decompress_checkpoint,
    "aqlm": aqlm.decompress_checkpoint,
}
NOTES = {"fp8": fp8.NOTE, "compressed-tensors": compressed_tensors.NOTE, "gptq": gptq.NOTE, "awq": awq.NOTE,
         "bitsandbytes": bnb.NOTE, "mlx": mlx_quantised.NOTE, "aqlm": aqlm.NOTE}  # fmt: skip
# The settings checked (and refused by name) before a weight is read.
SETTINGS = {"gptq": gptq.settings, "awq": awq.group_size, "bitsandbytes": bnb.check_settings,
            "mlx": mlx_quantised.settings, "aqlm": aqlm.settings}  # fmt: skip

_NOT_WEIGHTS = (torch.float8_e4m3fn, torch.float8_e5m2, torch.int8, torch.int16, torch.uint8, torch.uint32)  # quantised


def _check_dtypes(state: dict[str, torch.Tensor], folder: Path) -> None:
    """Quantised tensors in a checkpoint that does not declare them (an edited config.json): refused alike."""
    for key, tensor in state.items():
        if tensor.dtype in _NOT_WEIGHTS:
            raise ModelLoadError(
                f"{folder.name} stores {key} as {str(tensor.dtype).removeprefix('torch.')}: quantised weights, which "
                "the engine does not read. Load the unquantised checkpoint, or a GGUF file of the model."
            )


def _legacy_norm_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A checkpoint's LayerNorm.gamma and .beta renamed LayerNorm.weight and .bias, as transformers renames them when
    it loads any checkpoint (TensorFlow-era BERTs); it writes an ESM model's norms under the old names."""
    legacy = {".gamma": ".weight", ".beta": ".bias"}
    return {next((key.removesuffix(old) + new for old, new in legacy.items()
                  if key.endswith("LayerNorm" + old)), key): t for key, t in state.items()}  # fmt: skip


def convert_hf_folder(
    folder: Path, name: str, progress: Progress | None = None
) -> tuple[ModelConfig, dict[str, torch.Tensor], Tokenizer]:
    """A Hugging Face folder (config.json, safetensors, tokenizer.json) → (config, canonical weights, tokenizer)."""
    from .hf_adapters import adapter_for

    hf, config, tokenizer = _read_config_and_tokenizer(folder, name)
    make_weights = adapter_for(hf)[1]
    files = safetensors_files(folder)
    state: dict[str, torch.Tensor] = {}
    for i, f in enumerate(files):
        if progress is not None:
            progress(i / len(files), f"Reading {f.name}")
        state.update(read_safetensors(f))
    decode = DECODERS.get(_quant_method(hf) or "")
    if decode is not None:
        state = decode(state, _quantization(hf) or {}, folder.name)
    _check_dtypes(state, folder)
    state = _legacy_norm_names(state)
    refuse_unread_head(hf, state, config)  # an encoder-decoder's classifier: no logits of its own to show
    # A decoder's classifier has no language-model head: converted as if tied, none is looked for (then none is kept)
    headless = is_decoder_classifier(hf, state, config) or is_seq2seq_classifier(hf, state, config)
    read_as = dataclasses.replace(config, tie_embeddings=True) if headless else config
    weights = refusing_misfits(lambda: make_weights(state, read_as), f"{folder.name}: its tensors do not fit its "
                               "config.json")  # fmt: skip
    config, weights = attach_masked_lm_head(hf, state, config, weights)  # an encoder's, where the checkpoint has it
    config, weights = attach_classifier_head(hf, state, config, weights)  # a sequence classifier's, likewise
    check_shapes(config, weights, folder.name)
    if progress is not None:
        progress(1.0, f"Converted {hf.get('model_type')} weights")
    return config, weights, tokenizer
