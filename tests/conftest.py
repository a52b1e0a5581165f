"""Shared fixtures: tiny random encoders saved as HF folders (nothing is downloaded).

Every model is built from a config in code and loaded back through the real loading path
(``from_pretrained`` on a local folder), exactly as a hub model would be.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")



@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Torch on one intra-op thread for the whole session: the tiny models here gain nothing from a
    second, and beside other work (CI's 2 cores, a study running) torch's threads stall on each small
    product (5 tiny fine-tunings: 35 s on 2 threads, 13 s on one). Tests of thread settings set them
    through the public seams (a study's ``threads``), which set torch's themselves."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# A small WordPiece vocabulary: enough words and continuation pieces for 1-, 2- and 3-subword words.
WORDS = (
    "the a an cat dog dogs sat on mat and is was to of in it he she they run runs ran big small "
    "house tree play ##ing ##s ##ed ##er ##ly un ##believ ##able quick brown fox jump over lazy "
    "what who where when how why ? . , ! : ; ' - book read ##ers"
).split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]


def make_wordpiece_tokenizer():
    from transformers import BertTokenizerFast

    return BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)}, do_lower_case=True)


def save_tiny_bert(path: Path, *, layers: int = 2, hidden: int = 32, max_positions: int = 64, seed: int = 0):
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden,
                        max_position_embeddings=max_positions, hidden_dropout_prob=0.1,
                        attention_probs_dropout_prob=0.1)
    model = BertModel(config)
    model.save_pretrained(path)
    tok = make_wordpiece_tokenizer()
    tok.model_max_length = max_positions
    tok.save_pretrained(path)
    return path


def save_tiny_distilbert(path: Path, *, seed: int = 1):
    import torch
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizerFast

    torch.manual_seed(seed)
    config = DistilBertConfig(vocab_size=len(VOCAB), dim=32, n_layers=3, n_heads=2, hidden_dim=64,
                              max_position_embeddings=64)
    DistilBertModel(config).save_pretrained(path)
    tok = DistilBertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)}, do_lower_case=True)
    tok.model_max_length = 64
    tok.save_pretrained(path)
    return path


def save_tiny_roberta(path: Path, *, seed: int = 2):
    """A random RoBERTa with a byte-level BPE trained on a few sentences (prefix-space path)."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    corpus = [" ".join(WORDS).replace("##", "")] * 20 + ["the quick brown fox jumps over the lazy dog"] * 20
    bpe.train_from_iterator(corpus, vocab_size=300, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    path.mkdir(parents=True, exist_ok=True)
    bpe.save_model(str(path))
    tok = RobertaTokenizerFast(vocab=str(path / "vocab.json"), merges=str(path / "merges.txt"),
                               model_max_length=64)
    tok.save_pretrained(path)
    torch.manual_seed(seed)
    config = RobertaConfig(vocab_size=tok.vocab_size + 5, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64, max_position_embeddings=66,
                           pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                           eos_token_id=tok.eos_token_id)
    RobertaModel(config).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_distilbert(tmp_path_factory) -> Path:
    return save_tiny_distilbert(tmp_path_factory.mktemp("tiny-distilbert"))


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory) -> Path:
    return save_tiny_roberta(tmp_path_factory.mktemp("tiny-roberta"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture
def write(tmp_path):
    """Write a text file under tmp_path and return its path."""

    def _write(name: str, text: str, encoding: str = "utf-8") -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding=encoding)
        return p

    return _write
