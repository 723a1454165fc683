"""Numbers and shapes as people read them, one way everywhere: a real minus sign, no
trailing zeros, large counts with a prefix (20.7 M), and shapes written "3 × 224 × 224"; and
names that people chose, shown as the text they typed (:func:`plain`).

Core code (step traces, grid text, error messages) and figures both write numbers, so this
lives in the core and ``cnnviz.figures.style`` re-exports it for figures.
"""

import re

MINUS = "\u2212"  # U+2212: a real minus sign, wider and more legible than a hyphen


def fmt_number(x: float, digits: int = 2) -> str:
    """Format a number for display: a real minus sign, no trailing zeros, no '-0'."""
    text = f"{float(x):.{digits}f}".rstrip("0").rstrip(".") if digits > 0 else f"{float(x):.0f}"
    if text in ("-0", ""):
        text = "0"
    return text.replace("-", MINUS)


def shape_text(shape) -> str:
    """(32, 112, 112) -> "32 × 112 × 112": channels × height × width, or any other shape."""
    return " × ".join(str(int(n)) for n in shape)


PREFIXES = (("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1))


def si_count(count: float, smallest: str = "") -> str:
    """A count with an SI prefix and three significant digits: 999, 341 k, 20.7 M, 15.5 G;
    counts below the ``smallest`` prefix given are written in it (0.341 M), so a column of
    them reads in one unit per magnitude and never as 0.000."""
    for prefix, size in PREFIXES:
        if count >= size or prefix == smallest:
            value = count / size
            digits = f"{value:#.3g}".rstrip(".") if value else "0"  # 3.00 G, not 3 G
            return f"{digits} {prefix}".strip()
    return "0"


def duration(seconds: float) -> str:
    """An estimated wait as people say it: "5 s", "40 s", "3 min", "1 h 5 min"."""
    seconds = max(float(seconds), 0.0)
    if seconds < 60:
        return f"{max(round(seconds / 5) * 5, 1) if seconds >= 10 else round(seconds) or 1} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation mark
# Where GitHub-flavoured Markdown turns bare text into a link (http://…, www.…, a@b.c); a word
# joiner (U+2060, invisible) there keeps it text.
_AUTOLINK = re.compile(r"(:(?=//)|(?<=www)(?=\.)|@)", re.IGNORECASE)


def plain(text) -> str:
    """``text`` (a class, file or folder name someone chose, or a message quoting one) as
    Markdown that shows exactly these characters: every punctuation mark escaped, line breaks
    as spaces, no address turned into a link. Streamlit draws messages, captions and labels as
    Markdown, where a class named ``![x](http://host/x.gif)`` would make every browser that
    shows it fetch that address."""
    text = _AUTOLINK.sub("\\1\u2060", " ".join(str(text).splitlines()))
    return _PUNCTUATION.sub(r"\\\1", text)
