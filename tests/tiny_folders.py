"""A tiny random model of any kind the app tests open, saved under a folder the app may load local models from."""

from __future__ import annotations

from pathlib import Path


def tiny_folder(private_models: Path, kind: str) -> Path:
    """A tiny random model of `kind` (tests.tiny_models: save_tiny's decoders, save_tiny_encoder's encoders) saved
    under the allowed models folder."""
    from tests.tiny_models import save_tiny, save_tiny_deberta, save_tiny_deberta_v1, save_tiny_encoder
    from tests.tiny_models_latent import save_tiny_latent
    from tests.tiny_models_seq2seq import save_tiny_seq2seq, save_tiny_t5gemma, save_tiny_umt5

    folder = private_models / "models" / f"tiny-{kind}"
    folder.mkdir(parents=True)
    if kind in ("bart", "mbart", "pegasus", "m2m_100", "plbart", "blenderbot", "led", "bigbird_pegasus"):
        save_tiny_seq2seq(kind, folder)
    elif kind in ("bart_nli", "mbart_nli"):  # BART's sequence classifier (facebook/bart-large-mnli's layout), mBART's
        from tests.tiny_models_seq2seq import save_tiny_bart_classifier

        save_tiny_bart_classifier(folder, kind=kind.removesuffix("_nli"))
    elif kind == "deberta":
        save_tiny_deberta(folder)
    elif kind == "deberta_v1":
        save_tiny_deberta_v1(folder)
    elif kind == "umt5":
        save_tiny_umt5(folder)
    elif kind == "switch":  # Switch Transformers: T5 with experts in every other layer
        from tests.tiny_models_seq2seq import save_tiny_switch

        save_tiny_switch(folder)
    elif kind == "t5gemma":
        save_tiny_t5gemma(folder)
    elif kind in ("lfm2", "lfm3", "qwen3_5", "granite_hybrid", "nemotron_h", "olmo_hybrid", "falcon_h1", "bamba",
                  "jamba", "kimi_linear", "recurrent_gemma"):
        from tests import tiny_models_hybrid as hybrid

        getattr(hybrid, f"save_tiny_{kind}")(folder)
    elif kind in ("esm", "esm1b", "esmc"):  # ESM-2's layout, ESM-1b's, or ESM C's: protein models
        from tests.tiny_models_later import save_tiny_esm, save_tiny_esmc

        save_tiny_esmc(folder) if kind == "esmc" else save_tiny_esm(folder, rotary=kind == "esm")
    elif kind.startswith("mlm_"):  # a masked-language model: tests.tiny_masked_lms's kind after the prefix
        from tests.tiny_masked_lms import save_tiny_masked_lm

        save_tiny_masked_lm(kind.removeprefix("mlm_"), folder)
    elif kind.startswith("cls_"):  # a sequence classifier: tests.tiny_masked_lms's kind after the prefix
        from tests.tiny_masked_lms import save_tiny_classifier

        save_tiny_classifier(kind.removeprefix("cls_"), folder)
    elif kind.startswith("qa_"):  # an extractive question-answering model: tests.tiny_masked_lms's kind
        from tests.tiny_masked_lms import save_tiny_answerer

        save_tiny_answerer(kind.removeprefix("qa_"), folder)
    elif kind.startswith("clsdec_"):  # a decoder's sequence classifier (a reward model's layout)
        from tests.tiny_masked_lms import save_tiny_decoder_classifier

        save_tiny_decoder_classifier(kind.removeprefix("clsdec_"), folder)
    elif kind.startswith("tag_"):  # a token classifier (a named-entity tagger): tests.tiny_masked_lms's kind
        from tests.tiny_masked_lms import save_tiny_tagger

        save_tiny_tagger(kind.removeprefix("tag_"), folder)
    elif kind.startswith(("deepseek", "glm4_moe", "dots1", "youtu", "mistral4", "kimi_k25", "glm_moe_dsa", "axk1")):
        save_tiny_latent(kind, folder)
    else:
        save_tiny_encoder(kind, folder) if kind in ("mpnet", "modernbert") else save_tiny(kind, folder)
    return folder
