"""Tiny random models of the families beyond BERT-style encoders, with tokenizers trained in code.

Each builder writes an HF folder (config, safetensors, tokenizer) that ``from_pretrained`` reads
like a hub model; nothing is downloaded. The tokenizers cover the alignment cases:

* gpt2     byte-level BPE (``Ġcat``) with GPT-2's own tokenizer class (prefix-space option)
* llama    byte-level BPE without a prefix-space option (Llama 3 style), BOS first, left padding
* qwen2    byte-level BPE without a prefix-space option, no special tokens at all
* mistral  SentencePiece-style BPE (``▁cat``, Metaspace), BOS first
* t5       Unigram with Metaspace, ``</s>`` last (the encoder of an encoder-decoder)
* bart     byte-level BPE with ``<s> ... </s>`` (RoBERTa's), the encoder of an encoder-decoder
"""

from __future__ import annotations

from pathlib import Path

WORDS = ("the a an cat dog dogs sat on mat and is was to of in it he she they run runs ran big small "
         "house tree play playing unbelievable quick brown fox jumps over lazy what who where when "
         "how why ? . , ! book read readers").split()
CORPUS = [" ".join(WORDS)] * 10 + ["the quick brown fox jumps over the lazy dog ."] * 10
FAMILIES = ("gpt2", "llama", "qwen2", "mistral", "t5", "bart")


def _byte_level(bos: str | None, eos_last: bool = False, pad: str = "<pad>"):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [s for s in (bos, "</s>", pad, "<unk>") if s]
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if bos:
        single = f"{bos} $A" + (" </s>" if eos_last else "")
        tok.post_processor = processors.TemplateProcessing(
            single=single, special_tokens=[(s, tok.token_to_id(s)) for s in (bos, "</s>")])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def _metaspace(kind: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    specials = ["<pad>", "</s>", "<unk>", "<s>"]
    if kind == "unigram":
        tok = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=120, special_tokens=specials, unk_token="<unk>")
    else:
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        trainer = trainers.BpeTrainer(vocab_size=120, special_tokens=specials)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.train_from_iterator(CORPUS, trainer)
    single = "$A </s>" if kind == "unigram" else "<s> $A"
    tok.post_processor = processors.TemplateProcessing(
        single=single, special_tokens=[(s, tok.token_to_id(s)) for s in ("</s>", "<s>")])
    return tok


def _fast(tok, path: Path, **special):
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=64, **special)
    fast.save_pretrained(path)
    return fast


def save_tiny_family(family: str, path: Path, *, seed: int = 0, layers: int = 2) -> Path:
    """A random ``family`` model (hidden 32, ``layers`` layers) and its tokenizer in ``path``."""
    import torch
    import transformers as tf

    path.mkdir(parents=True, exist_ok=True)
    if family == "gpt2":
        tok = _byte_level(None)
        tok.model.save(str(path))
        fast = tf.GPT2TokenizerFast(vocab=str(path / "vocab.json"), merges=str(path / "merges.txt"),
                                    model_max_length=64, unk_token="<unk>", bos_token="</s>",
                                    eos_token="</s>")
        fast.save_pretrained(path)
        config = tf.GPT2Config(vocab_size=len(fast), n_embd=32, n_layer=layers, n_head=2, n_positions=64,
                               bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id)
    elif family in ("llama", "qwen2"):
        bos = "<|begin_of_text|>" if family == "llama" else None
        fast = _fast(_byte_level(bos), path, unk_token="<unk>", pad_token="<pad>", eos_token="</s>",
                     **({"bos_token": bos, "padding_side": "left"} if bos else {}))
        cls = tf.LlamaConfig if family == "llama" else tf.Qwen2Config
        config = cls(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                     pad_token_id=fast.pad_token_id, bos_token_id=fast.bos_token_id,
                     eos_token_id=fast.eos_token_id)
    elif family == "mistral":
        fast = _fast(_metaspace("bpe"), path, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                     eos_token="</s>")
        config = tf.MistralConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64,
                                  num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                                  max_position_embeddings=64, sliding_window=None,
                                  pad_token_id=fast.pad_token_id, bos_token_id=fast.bos_token_id,
                                  eos_token_id=fast.eos_token_id)
    elif family == "t5":
        fast = _fast(_metaspace("unigram"), path, unk_token="<unk>", pad_token="<pad>", eos_token="</s>")
        config = tf.T5Config(vocab_size=len(fast), d_model=32, d_kv=8, d_ff=64, num_layers=layers,
                             num_decoder_layers=1, num_heads=4, pad_token_id=fast.pad_token_id,
                             eos_token_id=fast.eos_token_id, decoder_start_token_id=fast.pad_token_id)
    elif family == "bart":
        tok = _byte_level("<s>", eos_last=True)
        fast = _fast(tok, path, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>")
        config = tf.BartConfig(vocab_size=len(fast), d_model=32, encoder_layers=layers, decoder_layers=1,
                               encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                               decoder_ffn_dim=64, max_position_embeddings=64,
                               pad_token_id=fast.pad_token_id, bos_token_id=fast.bos_token_id,
                               eos_token_id=fast.eos_token_id, decoder_start_token_id=fast.eos_token_id)
    else:
        raise ValueError(family)
    torch.manual_seed(seed)
    tf.AutoModel.from_config(config).save_pretrained(path)
    return path
