"""The tokenizer: programming terms whole, Chinese segmented into words, standard stop words."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from recsys.text import ALIASES, is_stop_word, tokenize

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("C++ templates vs Django templates", ["c++", "templates", "django", "templates"]),
        ("k8s and node.js", ["kubernetes", "node.js"]),
        ("c# on .net, golang and C", ["c#", ".net", "go", "c"]),
        ("neural-networks and machine-learning!", ["neural-networks", "machine-learning"]),
        ("an ML course", ["machine-learning", "course"]),
        ("see https://example.com/x <@123> <:py:42>", []),
    ],
)
def test_programming_terms_stay_whole(text: str, expected: list[str]) -> None:
    """c++, c#, .net, node.js, hyphenated terms and aliases survive as single terms."""
    assert tokenize(text) == expected


def test_chinese_is_segmented_into_words_not_bigrams() -> None:
    """学习 stays one word and 适合入门 becomes 适合 + 入门, never the straddling bigram 合入."""
    terms = tokenize("学习 Python 适合入门吗")
    assert terms == ["学习", "python", "适合", "入门"]
    assert "合入" not in terms and "学" not in terms and "习" not in terms


def test_chinese_domain_words_and_stop_words() -> None:
    """Tech compounds stay whole; particles, pronouns and chat fillers are dropped."""
    terms = tokenize("我想学习机器学习和深度学习，谢谢大家！有没有推荐的课程？")
    assert terms == ["学习", "机器学习", "深度学习", "推荐", "课程"]


def test_stop_words_come_from_standard_lists_with_programming_exceptions() -> None:
    """English and Chinese stop words and chat fillers are stop words; `go` is a language."""
    for word in ("the", "whereas", "first", "的", "我们", "因为", "thanks", "lol", "谢谢"):
        assert is_stop_word(word), word
    for word in ("go", "system", "python", "学习", "templates", "error"):
        assert not is_stop_word(word), word
    assert tokenize("Thanks lol, the first one works for me") == ["works"]
    assert not any(is_stop_word(target) for target in ALIASES.values())


def test_tokenize_stays_fast() -> None:
    """Mixed English and Chinese lines tokenize in well under a millisecond once warmed up."""
    line = "我想学习机器学习 python asyncio c++ templates 适合入门吗 node.js k8s"
    tokenize(line)
    start = time.perf_counter()
    for i in range(2000):
        tokenize(f"{line} {i}")
    assert (time.perf_counter() - start) / 2000 < 0.001


def test_importing_the_tokenizer_loads_no_segmenter() -> None:
    """Importing recsys.text loads neither jieba nor scikit-learn (the CLI starts fast)."""
    probe = (
        "import sys, recsys.text\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'jieba', 'sklearn', 'numpy'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "[]"


def test_english_text_never_loads_jieba() -> None:
    """A community that writes no Chinese never pays for loading the segmenter."""
    probe = (
        "import sys\nfrom recsys.text import tokenize\n"
        "tokenize('rust lifetimes and c++ templates')\n"
        "print('jieba' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "False"


def test_segmenter_start_up_is_silent() -> None:
    """Loading jieba prints nothing ("Building prefix dict ..." is silenced)."""
    probe = "from recsys.text import tokenize\nprint(tokenize('适合入门'))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "['适合', '入门']"
    assert result.stderr == ""
