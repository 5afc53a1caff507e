"""Text normalization shared by tags, matching and dedup, so all of them compare alike.

Both functions are a few C-speed string operations (NFKC, casefold, one compiled regex):
they run over every article field and every tag term, so no per-character Python loop.
"""

from __future__ import annotations

import re
import unicodedata

# Everything that is not a letter or a digit: punctuation, symbols, every kind of hyphen and
# apostrophe, whitespace and line breaks, and `_` (which `\w` would otherwise keep).
_NON_WORD = re.compile(r"[\W_]+")


def _fold(text: str) -> str:
    """NFKC then casefold: full-width, ligature and case variants become one spelling."""
    return unicodedata.normalize("NFKC", text).casefold()


def normalize(text: str) -> str:
    """Folded words joined by single spaces: `"KIDA's"` -> `"kida s"`, `"K2-tank"` -> `"k2 tank"`.

    Whole-word matching pads this with spaces, so every word boundary is exactly one space.
    """
    return _NON_WORD.sub(" ", _fold(text)).strip()


def compact(text: str) -> str:
    """`normalize` without the spaces, to compare CamelCase hashtags and categories with names.

    `"#KoreaInstituteforDefenseAnalyses"` and `"Korea Institute for Defense Analyses"` share it.
    """
    return _NON_WORD.sub("", _fold(text))
