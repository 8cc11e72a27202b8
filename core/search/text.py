"""BM25 over every document's text, held in memory.

The search index keeps every row's terms here (patched in place after this process's writes
and, row by row, after another process's) and answers full-text queries
without lance: a lance full-text query cost 3-5 ms before it scored a row, at 1k rows as at
100k, where this scores a query's posting lists in numpy in well under a millisecond at 10k.

Text is analysed as lance's default full-text index did (``lancedb.index.FTS()``), so rankings
stay what the fusion was tuned on: runs of letters and digits, lower-cased, tokens of 40 bytes
or more dropped, English (Porter2, Snowball's) stems, English stop words removed, accents
folded. Scores are Okapi BM25 (k1 1.2, b 0.75) with the idf ``ln(1 + (N - n + 0.5) / (n + 0.5))``, counted
over the live rows that have a term (as lance counts: a row whose text is empty or only stop
words is not in N nor in the average length).

Rows are kept as two parts: a compact one (posting lists by term, numpy) and a few rows added
since (scored from a dictionary), folded into the compact part once they reach
:data:`FOLD_AFTER`. Removed rows are masked until then; document frequencies and lengths are
always exact.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

K1 = 1.2
B = 0.75
#: Tokens of this many UTF-8 bytes or more are dropped (lance's ``max_token_length``).
MAX_TOKEN_BYTES = 40
#: The English stop words lance's tokenizer removes, checked against a token's stem as lance
#: does (NLTK's English list without its apostrophe forms; measured with lancedb 0.40 word by
#: word).
_STOP_WORDS = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom
    this that these those am is are was were be been being have has had having do does did
    doing a an the and but if or because as until while of at by for with about against between
    into through during before after above below to from up down in out on off over under again
    further then once here there when where why how all any both each few more most other some
    such no nor not only own same so than too very s t can will just don should now d ll m o re
    ve y ain aren couldn didn doesn hadn hasn haven isn ma mightn mustn needn shan shouldn wasn
    weren won wouldn"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
#: Rows added since the compact part was built before they are folded into it.
FOLD_AFTER = 512
#: A token is a run of letters and digits (Unicode categories L and N), said twice: in RE2 for
#: pyarrow, which splits stored texts in bulk, and for Python's re, which splits a query or a
#: write's few texts in microseconds where pyarrow compiles its pattern for 2 ms (a test holds
#: them equal).
_SEPARATORS = r"[^\p{L}\p{N}]+"
_TOKEN = re.compile(r"[^\W_]+")

#: From this many texts pyarrow splits them (its per-call cost pays off), below Python's re.
BULK_TEXTS = 64

_STEM_LOCK = threading.Lock()


def _renew_stem_lock() -> None:
    # A child forked while another thread stemmed would wait for that lock forever.
    global _STEM_LOCK
    _STEM_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_stem_lock)


@functools.cache
def _stemmer() -> Any:
    import Stemmer  # PyStemmer: the Snowball project's C stemmers

    return Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=1 << 17)
def term(token: str) -> str | None:
    """The term a lower-cased token is indexed as, or None for a token that is not indexed."""
    if not token or len(token.encode()) >= MAX_TOKEN_BYTES:
        return None
    with _STEM_LOCK:  # a Stemmer instance is not safe to share between threads
        stem: str = _stemmer().stemWord(token)
    if stem in STOP_WORDS:
        return None
    return stem if stem.isascii() else "".join(map(_folded, stem))


#: Letters lance's ASCII folding (Lucene's table) folds that have no Unicode decomposition
#: (probed letter by letter against lancedb 0.40; the others fold as NFKD decomposes them).
_FOLDS = {
    "ß": "ss", "æ": "ae", "ð": "d", "ø": "o", "þ": "th", "đ": "d", "ħ": "h", "ı": "i",
    "ĸ": "k", "ŀ": "l", "ł": "l", "ŉ": "n", "ŋ": "n", "œ": "oe", "ŧ": "t", "ǣ": "ae",
    "ǽ": "ae", "ǿ": "o", "ᵑ": "n", "ᶞ": "d", "ẚ": "a", "ꟹ": "oe",
}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def _folded(char: str) -> str:
    """``char`` without its accents (``é`` -> ``e``, ``ł`` -> ``l``, ``æ`` -> ``ae``); a
    letter whose decomposition is upper-case (``ℂ``, ``ᴬ``) is not folded, as in lance."""
    if char in _FOLDS:
        return _FOLDS[char]
    bare = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return bare if bare and bare == bare.lower() else char


def _split_bulk(texts: Sequence[str]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``(row of each token, the distinct tokens, each token's place among them)``, split by
    pyarrow (fast per text, but each call compiles the pattern: ~2 ms)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = pc.split_pattern_regex(pc.utf8_lower(pa.array(texts, pa.string())), _SEPARATORS)
    rows = pc.list_parent_indices(parts).to_numpy(zero_copy_only=False)
    tokens = pc.list_flatten(parts).dictionary_encode()
    return rows, tokens.dictionary.to_pylist(), tokens.indices.to_numpy(zero_copy_only=False)


def _split_few(texts: Sequence[str]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """:func:`_split_bulk` in Python's re: for the few texts a write or a query brings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # Lower-cased by pyarrow as in bulk (one character at a time, ~7 us): Python's str.lower
    # makes a word-final capital sigma a final sigma and a dotted capital I two characters,
    # so such a text would not find itself.
    lowered = pc.utf8_lower(pa.array(texts, pa.string())).to_pylist()
    split = [_TOKEN.findall(text) for text in lowered]
    rows = np.repeat(np.arange(len(split)), [len(tokens) for tokens in split])
    place: dict[str, int] = {}
    places = [place.setdefault(token, len(place)) for tokens in split for token in tokens]
    return rows, list(place), np.asarray(places, dtype=np.int64)


def analyze(texts: Sequence[str]) -> tuple[np.ndarray, list[str | None], np.ndarray]:
    """Every token of ``texts``: ``(row of each token, the distinct terms, each token's place
    among them)``; a token that is not indexed has the term None."""
    rows, tokens, places = (_split_bulk if len(texts) >= BULK_TEXTS else _split_few)(texts)
    return rows, [term(token) for token in tokens], places


def query_terms(text: str) -> list[str | None]:
    """The terms of one text in order, as :func:`analyze` finds them."""
    _, tokens, places = _split_few([text])
    return [term(tokens[place]) for place in places.tolist()]


class TextIndex:
    """Named texts; :meth:`top` gives the BM25 top ``depth`` for a query."""

    def __init__(self, names: Sequence[str], texts: Sequence[str]) -> None:
        if len(names) != len(texts):
            raise ValueError(f"{len(names)} names for {len(texts)} texts")
        self._vocab: dict[str, int] = {}
        last = {name: i for i, name in enumerate(names)}  # a repeated name: its last text
        keep = sorted(last.values())
        self._names = [names[i] for i in keep]
        rows, terms, tfs = self._counts([texts[i] for i in keep])
        self._compact(rows, terms, tfs)

    def __len__(self) -> int:
        return len(self._pos)

    def _ids(self, terms: list[str | None]) -> np.ndarray:
        """Vocabulary ids of ``terms`` (new terms are added; None stays -1)."""
        ids = np.full(len(terms), -1, dtype=np.int64)
        for i, t in enumerate(terms):
            if t is not None:
                ids[i] = self._vocab.setdefault(t, len(self._vocab))
        return ids

    def _counts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(row, term id, count)`` for every distinct term of every text, by row then term."""
        rows, terms, places = analyze(texts)
        ids = self._ids(terms)[places]
        kept = ids >= 0
        keys = rows[kept].astype(np.int64) * (len(self._vocab) + 1) + ids[kept]
        keys, counts = np.unique(keys, return_counts=True)
        width = len(self._vocab) + 1
        return keys // width, (keys % width).astype(np.int32), counts.astype(np.float32)

    def _compact(self, rows: np.ndarray, terms: np.ndarray, tfs: np.ndarray) -> None:
        """Build every array from ``(row, term, count)`` of rows ``0..len(names)``, all live."""
        n, vocab = len(self._names), len(self._vocab)
        self._pos = {name: i for i, name in enumerate(self._names)}
        self._alive = np.ones(n, dtype=bool)
        self._length = np.bincount(rows, weights=tfs, minlength=n).astype(np.float32)
        self._df = np.bincount(terms, minlength=vocab).astype(np.int64)
        # Forward (row -> terms): rows arrive sorted, so each row's entries are one slice.
        self._row_start = np.searchsorted(rows, np.arange(n + 1))
        self._row_terms, self._row_tfs = terms, tfs
        # Posting lists (term -> rows) for the compact part.
        order = np.argsort(terms, kind="stable")
        self._post_rows = rows[order].astype(np.int32)
        self._post_tfs = tfs[order]
        self._post_start = np.concatenate(([0], np.cumsum(np.bincount(terms, minlength=vocab))))
        self._compact_rows = n
        self._added: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # row -> (terms, counts)
        self._added_posts: dict[int, list[tuple[int, float]]] = {}  # term -> [(row, count)]
        self._total = int(self._length.sum())  # tokens in live rows
        self._docs = int(np.count_nonzero(self._length))  # live rows with a term: BM25's N

    def _row(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        if row < self._compact_rows:
            at = slice(self._row_start[row], self._row_start[row + 1])
            return self._row_terms[at], self._row_tfs[at]
        return self._added[row]

    def update(
        self, names: Sequence[str], texts: Sequence[str], removed: Iterable[str] = ()
    ) -> None:
        """Drop the ``removed``, then set the texts of ``names`` (new or changed), in place."""
        if len(names) != len(texts):
            raise ValueError(f"{len(names)} names for {len(texts)} texts")
        latest = {name: text for name, text in zip(names, texts, strict=True)}
        # Analysed before any row is dropped: a text that cannot be read changes nothing.
        counts = self._counts(list(latest.values())) if latest else None
        for name in (*removed, *latest):
            row = self._pos.pop(name, None)
            if row is not None:
                row_terms, row_tfs = self._row(row)
                self._alive[row] = False
                self._df[row_terms] -= 1
                self._total -= int(self._length[row])
                self._docs -= int(self._length[row] > 0)
        if counts is None:
            return
        rows, terms, tfs = counts
        first = len(self._names)
        self._names.extend(latest)
        self._df = np.concatenate((self._df, np.zeros(len(self._vocab) - len(self._df), np.int64)))
        np.add.at(self._df, terms, 1)
        self._alive = np.concatenate((self._alive, np.ones(len(latest), dtype=bool)))
        lengths = np.bincount(rows, weights=tfs, minlength=len(latest)).astype(np.float32)
        self._length = np.concatenate((self._length, lengths))
        self._total += int(lengths.sum())
        self._docs += int(np.count_nonzero(lengths))
        starts = np.searchsorted(rows, np.arange(len(latest) + 1))
        for i, name in enumerate(latest):
            row = first + i
            self._pos[name] = row
            at = slice(starts[i], starts[i + 1])
            self._added[row] = (terms[at], tfs[at])
            for t, f in zip(terms[at].tolist(), tfs[at].tolist(), strict=True):
                self._added_posts.setdefault(t, []).append((row, f))
        if len(self._added) >= FOLD_AFTER or len(self._names) > 2 * max(len(self._pos), 1):
            self._fold()

    def _fold(self) -> None:
        """Rebuild the compact part from the live rows (renumbered in order)."""
        compact = self._compact_rows
        alive = self._alive
        renumbered = np.cumsum(alive) - 1  # a live row's place among the live rows
        sizes = np.diff(self._row_start)
        kept = np.repeat(alive[:compact], sizes)
        rows = [np.repeat(renumbered[:compact][alive[:compact]], sizes[alive[:compact]])]
        terms, tfs = [self._row_terms[kept]], [self._row_tfs[kept]]
        for row in sorted(r for r in self._added if alive[r]):
            row_terms, row_tfs = self._added[row]
            rows.append(np.full(len(row_terms), renumbered[row]))
            terms.append(row_terms)
            tfs.append(row_tfs)
        self._names = [self._names[int(row)] for row in np.flatnonzero(alive)]
        self._compact(np.concatenate(rows), np.concatenate(terms), np.concatenate(tfs))

    def top(self, text: str, depth: int) -> list[tuple[str, float]]:
        """The ``depth`` best ``(name, BM25 score)`` for ``text``, best first; rows that share
        no term with it are not listed."""
        docs = self._docs  # N: live rows with a term
        if docs == 0 or depth <= 0:
            return []
        # A repeated query word counts once per repetition, as in lance.
        ids = Counter(self._vocab[t] for t in query_terms(text) if t in self._vocab)
        if not ids:
            return []
        scores = np.zeros(len(self._names), dtype=np.float32)
        norm = K1 / (self._total / docs)
        for t, repeats in ids.items():
            df = float(self._df[t])
            if df <= 0:
                continue
            idf = np.float32(repeats * np.log1p((docs - df + 0.5) / (df + 0.5)))
            if t < len(self._post_start) - 1:
                at = slice(self._post_start[t], self._post_start[t + 1])
                rows, tfs = self._post_rows[at], self._post_tfs[at]
                scores[rows] += (
                    idf * tfs * (K1 + 1) / (tfs + K1 * (1 - B) + norm * B * self._length[rows])
                )
            for row, f in self._added_posts.get(t, ()):
                scores[row] += (
                    idf * f * (K1 + 1) / (f + K1 * (1 - B) + norm * B * self._length[row])
                )
        hits = np.flatnonzero((scores > 0) & self._alive)
        if len(hits) > depth:
            hits = hits[np.argpartition(-scores[hits], depth - 1)[:depth]]
        hits = hits[np.argsort(-scores[hits], kind="stable")]
        return [(self._names[int(i)], float(scores[i])) for i in hits]
