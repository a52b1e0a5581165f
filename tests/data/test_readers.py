"""Readers of every task format, against hand-made files with known targets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftprobe.data import load_task
from ftprobe.data.samples import sample_path
from ftprobe.errors import DataFormatError, UserError

# Sentence 1 has a multiword token (3-4 "don't" -> do + n't) and an empty node (4.1).
CONLLU = """# sent_id = s1
# text = I don't know
1\tI\tI\tPRON\tPRP\t_\t4\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_
4.1\tit\tit\tPRON\tPRP\t_\t_\t_\t4:obj\t_

# sent_id = s2
1\tIt\tit\tPRON\tPRP\t_\t3\tnsubj:pass\t_\t_
2\twas\tbe\tAUX\tVBD\t_\t3\taux:pass\t_\t_
3\tdone\tdo\tVERB\tVBN\t_\t0\troot\t_\t_

"""


def test_pos_words_are_syntactic_words(write):
    task = load_task("pos", write("x-train.conllu", CONLLU))
    sp = task.split("train")
    assert sp.sentences == [["I", "do", "n't", "know"], ["It", "was", "done"]]
    assert [task.labels[i] for i in sp.labels] == ["PRON", "AUX", "PART", "VERB", "PRON", "AUX", "VERB"]
    assert sp.words[:, 0].tolist() == [0, 1, 2, 3, 0, 1, 2]
    assert (sp.words[:, 1] == -1).all()
    assert task.kind == "word" and task.labels == sorted(task.labels)


def test_pos_xpos_option(write):
    task = load_task("pos", write("x-train.conllu", CONLLU), tagset="xpos")
    assert set(task.labels) == {"PRP", "VBP", "RB", "VB", "VBD", "VBN"}


def test_dep_pairs_head_then_dependent(write):
    task = load_task("dep", write("x-train.conllu", CONLLU))
    sp = task.split("train")
    labels = [task.labels[i] for i in sp.labels]
    # root is not a pair; pairs are (head, dependent), 0-based
    assert labels == ["nsubj", "aux", "advmod", "nsubj:pass", "aux:pass"]
    assert sp.words.tolist() == [[3, 0], [3, 1], [3, 2], [2, 0], [2, 1]]
    assert sp.sent.tolist() == [0, 0, 0, 1, 1]
    base = load_task("dep", write("y-train.conllu", CONLLU), dep_labels="base")
    assert set(base.labels) == {"nsubj", "aux", "advmod"}
    assert sp.target_words()[0] == "know I"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1\tI\tI\tPRON\tPRP\t_\t4\tnsubj\t_", "expected 10 tab-separated columns, found 9"),
        ("1\tI\tI\tPRON\tPRP\t_\tx\tnsubj\t_\t_", "HEAD 'x' is not an integer"),
        ("1\tI\tI\tPRON\tPRP\t_\t9\tnsubj\t_\t_", "HEAD 9 out of range"),
        ("one\tI\tI\tPRON\tPRP\t_\t2\tnsubj\t_\t_", "invalid ID 'one'"),
    ],
)
def test_malformed_conllu_names_file_and_line(write, line, message):
    text = "# c\n" + line + "\n2\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_\n\n"
    path = write("bad-train.conllu", text)
    with pytest.raises(DataFormatError) as err:
        load_task("pos", path)
    assert str(err.value).startswith(f"{path}:2: ")
    assert message in str(err.value)


def test_empty_file(write):
    with pytest.raises(DataFormatError, match="empty file"):
        load_task("pos", write("e-train.conllu", "\n\n"))


CONLLULEX_HEAD = "1\tI\tI\tPRON\tPRP\t_\t2\tnsubj\t_\t_\t_\tPRON\tI\t_\t_\t_\t_\t_\tO-PRON\n"


def _lex(i, form, lexcat, ss, ss2, smwe="_"):
    return f"{i}\t{form}\t{form}\tADP\tIN\t_\t1\tcase\t_\t_\t{smwe}\t{lexcat}\t{form}\t{ss}\t{ss2}\t_\t_\t_\tO-P\n"


def test_streusle_single_token_adpositions_only(write):
    text = (
        CONLLULEX_HEAD
        + _lex(2, "in", "P", "p.Locus", "p.Locus")
        + _lex(3, "my", "PRON.POSS", "p.Possessor", "p.Gestalt")
        + _lex(4, "of", "P", "p.Topic", "p.Topic", smwe="1:1")  # part of a strong MWE
        + _lex(5, "to", "INF", "_", "_")  # not an adposition lexcat
        + _lex(6, "at", "P", "p.Time", "`i")  # function not a p. supersense
        + "\n"
    )
    path = write("s-train.conllulex", text)
    role = load_task("ps-role", path)
    fxn = load_task("ps-fxn", path)
    assert [role.labels[i] for i in role.split("train").labels] == ["p.Locus", "p.Possessor"]
    assert [fxn.labels[i] for i in fxn.split("train").labels] == ["p.Locus", "p.Gestalt"]
    assert role.split("train").words[:, 0].tolist() == [1, 2]


def test_streusle_missing_columns(write):
    path = write("s-train.conllulex", "1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n\n")
    with pytest.raises(DataFormatError, match=r":1: expected 19 tab-separated columns, found 10"):
        load_task("ps-fxn", path)


def test_trec_fine_and_coarse_latin1(write):
    text = "NUM:dist How far is it ?\nHUM:ind Who was Pel\xe9 ?\n"
    path = write("train_5500.label", text, encoding="latin-1")
    fine = load_task("trec-50", path)
    coarse = load_task("trec-6", path)
    sp = fine.split("train")
    assert sp.sentences[1] == ["Who", "was", "Pel\xe9", "?"]
    assert [fine.labels[i] for i in sp.labels] == ["NUM:dist", "HUM:ind"]
    assert coarse.labels == ["HUM", "NUM"] and fine.kind == "sentence"


def test_trec_bad_line(write):
    path = write("train_5500.label", "NUM:dist How far ?\nno label here\n")
    with pytest.raises(DataFormatError, match=r"train_5500.label:2: expected 'COARSE:fine question"):
        load_task("trec-50", path)


def test_jsonl_three_kinds(write):
    w = write("w-train.jsonl", json.dumps({"words": ["a", "b"], "targets": [{"word": 1, "label": "X"}]}) + "\n")
    p = write("p-train.jsonl", json.dumps({"words": ["a", "b"], "targets": [{"head": 1, "dep": 0, "label": "R"}]}))
    s = write("s-train.jsonl", json.dumps({"words": ["a", "b"], "label": "Q"}))
    assert load_task("jsonl", w).kind == "word"
    tp = load_task("jsonl", p)
    assert tp.kind == "pair" and tp.split("train").words.tolist() == [[1, 0]]
    assert load_task("jsonl", s).kind == "sentence"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"words": ["a"], "targets": [{"word": 3, "label": "X"}]}', "target 'word' must be a word index in 0..0"),
        ('{"words": [], "label": "X"}', "'words' must be a non-empty list"),
        ("{not json", "invalid JSON"),
        ('{"words": ["a"]}', "needs 'label'"),
    ],
)
def test_jsonl_errors(write, text, message):
    path = write("bad-train.jsonl", '{"words": ["ok"], "targets": []}\n' + text + "\n")
    with pytest.raises(DataFormatError, match=message) as err:
        load_task("jsonl", path)
    assert f"{path}:2:" in str(err.value)


def test_unknown_task_and_missing_path(tmp_path):
    with pytest.raises(UserError, match="unknown task 'nope'"):
        load_task("nope", tmp_path)
    with pytest.raises(UserError, match="no such file or directory"):
        load_task("pos", tmp_path / "missing")


def test_random_split_is_a_seeded_partition():
    path = sample_path("pud")
    a = load_task("pos", path, random_split=(0.8, 0.1, 0.1), split_seed=0)
    b = load_task("pos", path, random_split=(0.8, 0.1, 0.1), split_seed=0)
    c = load_task("pos", path, random_split=(0.8, 0.1, 0.1), split_seed=1)
    whole = load_task("pos", path)
    sizes = {k: len(v.sentences) for k, v in a.splits.items()}
    assert sizes == {"train": 240, "dev": 30, "test": 30}
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    all_sents = sorted(" ".join(s) for sp in a.splits.values() for s in sp.sentences)
    assert all_sents == sorted(" ".join(s) for s in whole.split("test").sentences)
    assert sum(len(sp) for sp in a.splits.values()) == len(whole.split("test"))


def test_split_files_found_by_name():
    task = load_task("pos", sample_path("ewt"))
    assert list(task.splits) == ["train", "dev", "test"]
    trec = load_task("trec-50", sample_path("trec"))
    assert list(trec.splits) == ["train", "test"]
    assert len(trec.split("train")) == 1000


def test_fingerprint_follows_content(write):
    a = load_task("pos", write("a-train.conllu", CONLLU))
    b = load_task("pos", write("b-train.conllu", CONLLU.replace("done", "made")))
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint() == load_task("pos", write("c-train.conllu", CONLLU)).fingerprint()


# --- the real corpora (../shared/data), skipped when absent -------------------------------------


@pytest.mark.realdata
def test_ewt_pos_train(shared_data):
    task = load_task("pos", shared_data / "ud_english_ewt")
    assert len(task.split("train")) == 204_577
    assert task.n_labels == 17
    assert len(np.unique(task.split("train").labels)) == 17


@pytest.mark.realdata
def test_streusle_train(shared_data):
    role = load_task("ps-role", shared_data / "streusle")
    fxn = load_task("ps-fxn", shared_data / "streusle")
    n = len(role.split("train"))
    assert 4200 <= n <= 4400 and n == len(fxn.split("train"))
    assert len(np.unique(role.split("train").labels)) == 46
    assert len(np.unique(fxn.split("train").labels)) == 38


@pytest.mark.realdata
def test_trec_train(shared_data):
    task = load_task("trec-50", shared_data / "trec")
    assert len(task.split("train")) == 5452
    assert len(np.unique(task.split("train").labels)) == 50
    assert len(task.split("test")) == 500


@pytest.mark.realdata
def test_pud_dep_labels(shared_data):
    task = load_task("dep", shared_data / "ud_english_pud", random_split=(0.8, 0.1, 0.1))
    assert task.n_labels == 46
    assert sum(len(s.sentences) for s in task.splits.values()) == 1000
