"""Tokenizing chat and course text so that programming terms and Chinese survive.

`c++`, `c#`, `.net`, `node.js`, `k8s`, `asyncio` and hyphenated terms such as
`machine-learning` stay whole; common spellings are folded to one term (`golang` ->
`go`, `k8s` -> `kubernetes`). Runs of Chinese characters are segmented into words by
jieba (its dictionary ships inside the package, so it works offline), with a few
programming words added to its dictionary ("机器学习" stays one word). Stop words
come from standard lists: scikit-learn's English list (minus the few entries that
are programming terms here, such as `go`) and the stopwords-iso Chinese list, plus
chat fillers ("thanks", "lol", "谢谢").

Importing this module is cheap: jieba is imported and its dictionary loaded the first
time a text contains Chinese (about a second, once per process; `prepare()` does it
ahead of time), and the stop-word lists are read on the first call.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import logging
import math
import re
import threading
import warnings
from pathlib import Path
from typing import Any, Final

log = logging.getLogger(__name__)

_NOISE = re.compile(
    r"https?://\S+"  # links
    r"|<a?:\w+:\d+>"  # Discord custom emoji
    r"|<[@#][!&]?\d+>"  # Discord user/role/channel mentions
    r"|(?<![\w.])@\w+"  # @username mentions (Telegram, Slack-style)
    r"|```\w*"  # code fence markers (the code itself is kept)
)
_TOKEN = re.compile(
    r"\.[a-z][a-z0-9]*"  # .net
    r"|[a-z0-9][a-z0-9_]*(?:[.\-][a-z0-9_]+)*(?:\+\+|#)?"  # node.js, c++, c#, x86_64, k8s
    r"|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"  # CJK ideographs
)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_DIGITS = re.compile(r"^[\d.\-_]+$")

MAX_TERM = 64

ALIASES: Final[dict[str, str]] = {
    "golang": "go",
    "k8s": "kubernetes",
    "js": "javascript",
    "ts": "typescript",
    "py": "python",
    "python3": "python",
    "postgres": "postgresql",
    "psql": "postgresql",
    "nodejs": "node.js",
    "node": "node.js",
    "reactjs": "react",
    "vuejs": "vue",
    "vue.js": "vue",
    "cpp": "c++",
    "cplusplus": "c++",
    "csharp": "c#",
    "dotnet": ".net",
    "ml": "machine-learning",
    "tf": "tensorflow",
    "sklearn": "scikit-learn",
}

# Entries of scikit-learn's English list that name programming things in a tech chat.
_NOT_STOP: Final = frozenset({"go", "system", "move"})

# Chat fillers on top of the standard lists (what members say, not what they talk about).
CHAT_FILLERS: Final = frozenset(
    """
    yes yeah yep nope ok okay lol lmao haha hah thanks thank thx ty pls plz hi hello hey vs
    guys folks bro sorry welcome btw imo imho tbh idk really just like know think want need
    use using used make made thing things stuff anyone got gets getting doing does did
    let lets im ive ill dont doesnt didnt isnt cant wont don doesn didn isn wasn aren
    haven hasn couldn shouldn wouldn
    谢谢 感谢 多谢 哈哈哈 嘿嘿 请问 大佬 各位 大家好 你好
    一下 有没有 是不是 觉得 知道 现在 就是 还是
    """.split()
)

# Words jieba's general dictionary splits but a tech community uses as one term.
JIEBA_WORDS: Final = (
    "机器学习",
    "深度学习",
    "强化学习",
    "迁移学习",
    "自然语言处理",
    "计算机视觉",
    "大模型",
    "后端",
    "微服务",
    "云原生",
    "区块链",
    "零基础",
    "异步编程",
    "函数式编程",
    "面向对象",
)

_COMMON_ZIPF: Final = 5.2  # "very common" on the Zipf scale, whatever the part of speech
_COMMON_VERB_ZIPF: Final = 4.5  # for verbs, adjectives, adverbs and other non-nouns
_NOUNISH: Final = frozenset({"vn", "eng", "j"})  # verbal nouns, foreign words, abbreviations

_jieba_lock = threading.Lock()
_jieba: Any = None  # jieba.Tokenizer once initialised


def _sklearn_english() -> frozenset[str]:
    """scikit-learn's ENGLISH_STOP_WORDS, read from its source without importing sklearn.

    Importing scikit-learn takes a second or more; the list is a literal in a small
    module, so it is parsed instead. Any surprise in that file falls back to the import.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.submodule_search_locations:
        source = Path(next(iter(spec.submodule_search_locations)))
        source = source / "feature_extraction" / "_stop_words.py"
        try:
            tree = ast.parse(source.read_text(encoding="utf-8"))
            for node in tree.body:
                if (
                    isinstance(node, ast.Assign)
                    and any(
                        isinstance(t, ast.Name) and t.id == "ENGLISH_STOP_WORDS"
                        for t in node.targets
                    )
                    and isinstance(node.value, ast.Call)
                    and node.value.args
                ):
                    return frozenset(ast.literal_eval(node.value.args[0]))
        except (OSError, SyntaxError, ValueError):
            pass
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


@functools.cache
def stop_words() -> frozenset[str]:
    """Every stop word: scikit-learn's English list, stopwords-iso Chinese, chat fillers."""
    import stopwordsiso

    chinese = {w for w in stopwordsiso.stopwords("zh") if _CJK.match(w)}
    return (_sklearn_english() - _NOT_STOP) | chinese | CHAT_FILLERS


def is_stop_word(term: str) -> bool:
    """Whether `term` (lower case) is a stop word or a chat filler."""
    return term in stop_words()


@functools.cache
def _common_chinese() -> frozenset[str]:
    """Chinese words too common in general text to name a topic, from jieba's dictionary.

    The dictionary counts each word in a large general corpus and tags its part of
    speech. A word is common when its Zipf frequency (log10 of occurrences per billion
    words) is at least `_COMMON_ZIPF` ("问题", "使用", "学习"), or at least
    `_COMMON_VERB_ZIPF` for words that are not nouns ("适合", "推荐").
    """
    rows: list[tuple[str, int, str]] = []
    with _segmenter().get_dict_file() as handle:
        for raw in handle:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                rows.append((parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""))
    total = sum(freq for _, freq, _ in rows) or 1
    noun = _COMMON_ZIPF - 9.0 + math.log10(total)  # Zipf thresholds as raw counts (log10)
    other = _COMMON_VERB_ZIPF - 9.0 + math.log10(total)
    return frozenset(
        word
        for word, freq, tag in rows
        if freq > 0
        and math.log10(freq) >= (noun if tag.startswith("n") or tag in _NOUNISH else other)
    )


def is_generic(term: str) -> bool:
    """Whether `term` is a stop word or a word too common to name what someone talks about.

    For Chinese words this uses jieba's general-corpus frequencies (see
    `_common_chinese`); English terms are generic when they are stop words (a term that
    everyone in a community uses is left to the caller's statistics).
    """
    if is_stop_word(term):
        return True
    return bool(_CJK.match(term)) and term in _common_chinese()


def _segmenter() -> Any:
    """The jieba tokenizer, imported and initialised once per process, quietly."""
    global _jieba
    if _jieba is not None:
        return _jieba
    with _jieba_lock:
        if _jieba is None:
            with warnings.catch_warnings():
                # jieba 0.42 imports pkg_resources, which newer setuptools deprecates.
                warnings.simplefilter("ignore")
                import jieba  # type: ignore[import-untyped]
            jieba.setLogLevel(logging.WARNING)  # "Building prefix dict ..." on stderr
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            for word in JIEBA_WORDS:
                tokenizer.add_word(word)
            _jieba = tokenizer
    return _jieba


def prepare() -> None:
    """Load the stop words and jieba's dictionary now (about a second) instead of lazily."""
    stop_words()
    _segmenter()


@functools.lru_cache(maxsize=1 << 16)
def _chinese_words(run: str) -> tuple[str, ...]:
    """The words of a run of Chinese characters, without stop words and single characters.

    A single character is mostly a particle or a piece of a word jieba did not know.
    """
    stop = stop_words()
    return tuple(
        word
        for word in _segmenter().cut(run)
        if len(word) > 1 and word not in stop and _CJK.match(word)
    )


def tokenize(text: str) -> list[str]:
    """Split `text` into lower-case terms for topic profiles and channel aggregates."""
    text = _NOISE.sub(" ", text.lower())
    stop = stop_words()
    terms: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        if _CJK.match(token):
            terms.extend(_chinese_words(token))
            continue
        token = token.rstrip(".-_")
        if len(token) < 2 and token not in {"c", "r"}:
            continue
        if len(token) > MAX_TERM or _DIGITS.match(token) or token in stop:
            continue
        terms.append(ALIASES.get(token, token))
    return terms
