"""A tiny randomly initialised Llama with a byte-level BPE tokenizer, built locally in seconds.

For tests and CI fixtures only (the real pipeline uses real models): it exercises the same
code paths (tokenizer, generation, scoring, DeepSpeed training, saving) as a 7B model.
`python -m l4r.tiny OUT_DIR` builds one.
"""
from __future__ import annotations

import sys
from pathlib import Path

CORPUS = ["Below is an instruction that describes a task. ### Instruction: ### Input: ### Response:",
          "Rank the candidate movies based on user historical interactions and make the top k recommendations.",
          "Interaction History: Candidate Items: Similar User Interaction History: Conventional Model Prediction:",
          "Predict the rating of a target movie. Rating History: Candidate Item: 1 2 3 4 5 6 7 8 9 10 (1995) ;"]


def build(out, texts=(), hidden: int = 64, layers: int = 2, heads: int = 4, vocab: int = 512, seed: int = 0,
          split_digits: bool = False) -> Path:
    """`split_digits` writes every digit as its own token (as LLaMA's and SmolLM2's tokenizers do)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if split_digits:
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    special = ["<pad>", "<s>", "</s>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(CORPUS) + list(texts), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    fast.save_pretrained(out)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=4096, pad_token_id=fast.pad_token_id,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(out)
    return out


if __name__ == "__main__":
    print(build(sys.argv[1]))
