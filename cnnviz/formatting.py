"""Numbers and shapes as people read them, one way everywhere: a real minus sign, no
trailing zeros, and shapes written "3 × 224 × 224".

Core code (step traces, grid text, error messages) and figures both write numbers, so this
lives in the core and ``cnnviz.figures.style`` re-exports it for figures.
"""

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
