"""Source formats → one canonical weight layout.

Every converter is a pure function from a source file to `(ModelConfig, weights, tokenizer)` where
`weights` uses these names and math orientation (activations multiply on the left: `x @ W`):

    embed.W_E            [d_vocab, d_model]     token embeddings
    embed.W_pos          [n_ctx, d_model]       absolute positions (BERT)
    embed.W_type         [n_token_types, d_model]  segment embeddings (BERT)
    embed.ln.w / .b      [d_model]              LayerNorm after the embeddings (BERT)
    blocks.{l}.ln_attn.w / .b   [d_model]       norm before attention (pre-norm) or after its residual add (post-norm)
    blocks.{l}.attn.W_Q  [d_model, n_heads * d_head]     .b_Q [n_heads * d_head]
    blocks.{l}.attn.W_K  [d_model, n_kv_heads * d_head]  .b_K
    blocks.{l}.attn.W_V  [d_model, n_kv_heads * d_head]  .b_V   ("value-down", per head a d_model→d_head map)
    blocks.{l}.attn.W_O  [n_heads * d_head, d_model]     .b_O   ("value-up", per head a d_head→d_model map)
    blocks.{l}.ln_mlp.w / .b    [d_model]       (absent where one norm feeds both sublayers: shared_block_norm)
    blocks.{l}.mlp.W_in  [d_model, d_mlp]  .b_in      blocks.{l}.mlp.W_gate [d_model, d_mlp] (SwiGLU)
    blocks.{l}.mlp.W_out [d_mlp, d_model]  .b_out
    ln_final.w / .b      [d_model]              final norm (pre-norm models)
    unembed.W_head / .b_head  [d_model, d_out]  a prediction head before W_U (ModernBERT decoder; an encoder's
    unembed.ln.w / .b    [d_out]                masked-language-model head, masked_lm.py): LayerNorm(act(x·W_head))
    unembed.W_U          [d_out, d_vocab]       absent when tied to embed.W_E (d_out = d_model without a head)
    unembed.b_U          [d_vocab]              the unembedding's bias (Phi, masked-language-model heads)

Head h's rows of W_Q are columns h*d_head:(h+1)*d_head, in the order Hugging Face's RoPE
(`rotate_half`) expects.
"""
