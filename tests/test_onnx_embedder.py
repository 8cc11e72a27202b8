"""OnnxEmbedder runs a real ONNX model on onnxruntime with a real ``tokenizer.json``: the
models here are built in the test (a token-embedding table, like a sentence-transformers
export's token output, small enough to check by hand), so nothing is downloaded."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the dev extra installs onnx")
pytest.importorskip("onnxruntime", reason="the onnx extra installs onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from tokenizers.models import WordLevel  # noqa: E402
from tokenizers.pre_tokenizers import Whitespace  # noqa: E402

from py_code_mode.errors import (  # noqa: E402
    ConfigurationError,
    MissingPackageError,
    SearchError,
)
from py_code_mode.search import HybridIndex, OnnxEmbedder  # noqa: E402
from py_code_mode.search.index import document  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "list", "issues", "github", "send", "slack", "message", "post",
         "chat", "repository", "the", "a", "to", "of", "bugs"]  # fmt: skip
DIM = 8
# Words of one topic point the same way (axis 0: github, axis 1: slack), plus a little noise.
TABLE = 0.1 * np.random.default_rng(3).normal(size=(len(WORDS), DIM)).astype(np.float32)
for _topic, _words in enumerate(
    (
        ("list", "issues", "github", "repository", "bugs"),
        ("send", "slack", "message", "post", "chat"),
    )
):
    for _word in _words:
        TABLE[WORDS.index(_word), _topic] += 1.0
TYPES = np.random.default_rng(4).normal(size=(2, DIM)).astype(np.float32)


def _tokenizer(path: Path) -> Path:
    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(path))
    return path


def _model(path: Path, *, token_types: bool = False, pooled: bool = False) -> Path:
    """A model whose output is each token's row of TABLE (plus its token type's row), or,
    with ``pooled``, their plain sum per text (one vector per text, no mask)."""
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "s"])
    inputs = [ids, mask]
    inits = [numpy_helper.from_array(TABLE, "table")]
    nodes = [helper.make_node("Gather", ["table", "input_ids"], ["tokens"])]
    out = "tokens"
    if token_types:
        inputs.append(
            helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, ["b", "s"])
        )
        inits.append(numpy_helper.from_array(TYPES, "types"))
        nodes += [
            helper.make_node("Gather", ["types", "token_type_ids"], ["typed"]),
            helper.make_node("Add", ["tokens", "typed"], ["hidden"]),
        ]
        out = "hidden"
    if pooled:
        inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axis"))
        nodes.append(helper.make_node("ReduceSum", [out, "axis"], ["pooled"], keepdims=0))
        output = helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["b", DIM])
    else:
        nodes.append(helper.make_node("Identity", [out], ["last_hidden_state"]))
        output = helper.make_tensor_value_info(
            "last_hidden_state", TensorProto.FLOAT, ["b", "s", DIM]
        )
    graph = helper.make_graph(nodes, "tiny", inputs, [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _expected(text: str, types: bool = False) -> np.ndarray:
    rows = [TABLE[WORDS.index(w) if w in WORDS else 1] for w in text.split()]
    vector = np.mean(rows, axis=0) + (TYPES[0] if types else 0)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    _model(tmp_path / "model.onnx")
    _tokenizer(tmp_path / "tokenizer.json")
    return tmp_path


def test_vectors_are_the_masked_mean_of_the_token_vectors(model_dir: Path) -> None:
    embedder = OnnxEmbedder(model_dir / "model.onnx")
    texts = ["list github issues", "send a slack message to the chat", "bugs", "zzz unknown"]
    vectors = embedder.embed_array(texts)
    assert vectors.shape == (4, DIM) and vectors.dtype == np.float32
    for text, vector in zip(texts, vectors, strict=True):
        # padded in a batch with longer texts, yet the same as the text's own tokens alone
        np.testing.assert_allclose(vector, _expected(text), atol=1e-5)
    assert embedder.dim == DIM
    assert embedder.embed(["bugs"])[0] == pytest.approx(list(_expected("bugs")), abs=1e-5)


def test_order_is_kept_across_batches_of_similar_length(model_dir: Path) -> None:
    texts = ["send a slack message to the chat", "bugs", "list github issues", "post", "a b"]
    one_by_one = np.stack([OnnxEmbedder(model_dir).embed_array([t])[0] for t in texts])
    batched = OnnxEmbedder(model_dir, batch_size=2).embed_array(texts)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert OnnxEmbedder(model_dir).embed([]) == []


def test_a_hugging_face_folder_layout_and_token_types(tmp_path: Path) -> None:
    (tmp_path / "onnx").mkdir()
    _model(tmp_path / "onnx" / "model.onnx", token_types=True)
    _tokenizer(tmp_path / "tokenizer.json")
    embedder = OnnxEmbedder(tmp_path)
    assert embedder.model_path == tmp_path / "onnx" / "model.onnx"
    assert embedder.id.startswith(f"onnx-{tmp_path.name}-model-")
    np.testing.assert_allclose(
        embedder.embed_array(["list github issues"])[0],
        _expected("list github issues", types=True),
        atol=1e-5,
    )
    # a quantized export picked by its path finds the tokenizer one level up
    quantized = _model(tmp_path / "onnx" / "model_quint8_avx2.onnx")
    picked = OnnxEmbedder(quantized)
    assert picked.tokenizer_path == tmp_path / "tokenizer.json"
    assert picked.id.startswith(f"onnx-{tmp_path.name}-model_quint8_avx2-")


def test_the_id_follows_what_makes_the_vectors_not_how_the_path_is_spelled(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(model_dir)
    base = OnnxEmbedder(model_dir / "model.onnx")
    assert OnnxEmbedder(".").id == OnnxEmbedder("model.onnx").id == base.id
    assert OnnxEmbedder(model_dir, max_length=8).id != base.id  # truncation changes vectors
    other = model_dir / "other"
    other.mkdir()
    _tokenizer(other / "tokenizer.json")
    words = WORDS.copy()
    try:  # a different vocabulary
        WORDS.reverse()
        _tokenizer(other / "reversed.json")
    finally:
        WORDS[:] = words
    assert OnnxEmbedder(model_dir / "model.onnx", other / "reversed.json").id != base.id
    # the same size, other weights (a retrained model): another id
    (model_dir / "model.onnx").write_bytes(
        (model_dir / "model.onnx").read_bytes().replace(TABLE.tobytes(), (TABLE * 2).tobytes())
    )
    assert OnnxEmbedder(model_dir).id != base.id


def test_the_pad_token_is_the_tokenizers_own(tmp_path: Path) -> None:
    # RoBERTa-style models derive positions from the pad id: padding must use the model's.
    tokenizer = Tokenizer(WordLevel({"<s>": 0, "<pad>": 1, "bugs": 2, "list": 3}, unk_token="<s>"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    _model(tmp_path / "model.onnx")
    loaded = OnnxEmbedder(tmp_path)._load()
    assert loaded.pad_id == 1


def test_a_model_that_pools_itself_is_used_as_it_is(tmp_path: Path) -> None:
    model = _model(tmp_path / "pooled.onnx", pooled=True)
    embedder = OnnxEmbedder(model, _tokenizer(tmp_path / "tok.json"), id="tiny-pooled")
    assert embedder.id == "tiny-pooled"
    # the model sums (no mean, no mask): normalizing gives the mean's direction for one text
    np.testing.assert_allclose(
        embedder.embed_array(["send slack message"])[0], _expected("send slack message"), atol=1e-5
    )


def test_bad_paths_and_settings_are_named(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="nothing.onnx does not exist"):
        OnnxEmbedder(tmp_path / "nothing.onnx")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError, match="no model.onnx in"):
        OnnxEmbedder(empty)
    alone = tmp_path / "alone"
    alone.mkdir()
    _model(alone / "m.onnx")
    with pytest.raises(ConfigurationError, match="tokenizer file .*tokenizer.json does not exist"):
        OnnxEmbedder(alone / "m.onnx")
    # a folder given as the tokenizer: its tokenizer.json
    assert OnnxEmbedder(alone / "m.onnx", model_dir).tokenizer_path == model_dir / "tokenizer.json"
    with pytest.raises(ConfigurationError, match="batch_size must be at least 1"):
        OnnxEmbedder(model_dir, batch_size=0)


def test_broken_files_are_named_when_the_model_loads(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    bad_tokenizer = OnnxEmbedder(model_dir / "model.onnx", tmp_path / "bad.json")
    with pytest.raises(ConfigurationError, match=r"cannot read tokenizer .*bad.json"):
        bad_tokenizer.embed_array(["bugs"])
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    bad_model = OnnxEmbedder(tmp_path / "bad.onnx", model_dir / "tokenizer.json")
    with pytest.raises(ConfigurationError, match=r"cannot load model .*bad.onnx"):
        bad_model.embed_array(["bugs"])
    # in a search, the embedder's failure is a SearchError naming the embedder and the file
    index = HybridIndex(tmp_path / "index", "skills", bad_tokenizer)
    with pytest.raises(SearchError, match=r"embedder onnx-.*cannot read tokenizer"):
        index.query({"a": document("a", "h", description="bugs")}, "bugs")


def test_a_missing_onnxruntime_says_which_extra(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = OnnxEmbedder(model_dir)  # before: constructing loads nothing
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingPackageError, match=r'pip install "py-code-mode\[onnx\]"'):
        OnnxEmbedder(model_dir)  # said when the embedder is made, not at the first search
    with pytest.raises(MissingPackageError, match=r'pip install "py-code-mode\[onnx\]"'):
        built.embed_array(["bugs"])
    index = HybridIndex(model_dir / "index", "skills", built)
    with pytest.raises(MissingPackageError):  # not wrapped as a failure of the index
        index.query({"a": document("a", "h", description="bugs")}, "bugs")


def test_a_child_forked_while_the_model_loads_can_embed(model_dir: Path) -> None:
    # The load runs under a lock (a session's warm-up thread loads in the background); a
    # child forked meanwhile must not inherit it held.
    import os

    embedder = OnnxEmbedder(model_dir)
    embedder._lock.acquire()  # as if another thread were loading right now
    try:
        pid = os.fork()
        if pid == 0:  # the child: embed, exit 0 on success (never returns to pytest)
            code = 1
            try:
                vector = embedder.embed_array(["bugs"])[0]
                code = 0 if np.allclose(vector, _expected("bugs"), atol=1e-5) else 1
            finally:
                os._exit(code)
        deadline = 60.0
        import time

        start = time.monotonic()
        while time.monotonic() - start < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on the load lock")
    finally:
        embedder._lock.release()
    assert os.waitstatus_to_exitcode(status) == 0


def test_hybrid_search_over_an_onnx_embedder(model_dir: Path, tmp_path: Path) -> None:
    embedder = OnnxEmbedder(model_dir)
    index = HybridIndex(tmp_path / "index", "skills", embedder)
    assert index.fusion.weight == OnnxEmbedder.fusion_weight  # the weight chosen for it
    embedder.fusion_weight = 0.3  # set later, still read by the next search
    assert index.fusion.weight == 0.3
    docs = {
        name: document(name, name, description=text)
        for name, text in {
            "list_github_issues": "list the issues of a github repository",
            "send_slack_message": "post a message to a slack chat",
        }.items()
    }
    assert index.query(docs, "slack chat message", 1)[0][0] == "send_slack_message"
    assert index.query(docs, "github bugs", 1, mode="vector")[0][0] == "list_github_issues"
