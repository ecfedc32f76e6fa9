"""Tokenizing chat and course text so that programming terms and Chinese survive.

`c++`, `c#`, `.net`, `node.js`, `k8s`, `asyncio` stay whole; common spellings are
folded to one term (`golang` -> `go`, `k8s` -> `kubernetes`); runs of Chinese
characters become character bigrams. Pure regular expressions: cheap to import.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

_NOISE = re.compile(
    r"https?://\S+"  # links
    r"|<a?:\w+:\d+>"  # Discord custom emoji
    r"|<[@#][!&]?\d+>"  # Discord user/role/channel mentions
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

STOP_WORDS: Final = frozenset(
    """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing done down during each
    few for from further get got had has have having he her here hers him his how i if in
    into is it its itself just me more most my no nor not now of off on once only or other
    our out over own same she should so some such than that the their them then there these
    they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yes yeah ok okay lol thanks thank
    please hi hello hey guys one two also like know think really want need use using used
    make made still even much many well way thing things something anyone someone would've
    i'm it's don't can't doesn't isn't that's there's let's i've i'll you're
    """.split()
)


# Function characters: a bigram containing one mostly straddles two words ("的文").
CJK_STOP: Final = frozenset(
    "的了是我你他她它在和与也有就都很这那个一不人们吗呢啊吧把被给对到说要会能么"
)


def _cjk_bigrams(run: str) -> Iterator[str]:
    if len(run) == 1:
        if run not in CJK_STOP:
            yield run
        return
    for i in range(len(run) - 1):
        pair = run[i : i + 2]
        if pair[0] not in CJK_STOP and pair[1] not in CJK_STOP:
            yield pair


def tokenize(text: str) -> list[str]:
    """Split `text` into lower-case terms for topic profiles and channel aggregates."""
    text = _NOISE.sub(" ", text.lower())
    terms: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        if _CJK.match(token):
            terms.extend(_cjk_bigrams(token))
            continue
        token = token.rstrip(".-_")
        if len(token) < 2 and token not in {"c", "r"}:
            continue
        if len(token) > MAX_TERM or _DIGITS.match(token) or token in STOP_WORDS:
            continue
        terms.append(ALIASES.get(token, token))
    return terms
