"""The app's pages in one list, so app.py, the home page and the tests never disagree about them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    path: str  # file, relative to the repository root
    title: str
    icon: str  # a Streamlit material icon
    url_path: str  # what follows the server address in a shareable link
    summary: str  # one line for the home page


SECTIONS: dict[str, list[PageSpec]] = {
    "Start": [
        PageSpec("pages/home.py", "Home", ":material/home:", "home",
                 "What cnnviz is and where its models run."),
    ],
    "Convolution": [
        PageSpec("pages/convolution_by_hand.py", "Convolution by hand", ":material/grid_on:",
                 "convolution", "Watch the sliding dot product fill the output, cell by cell."),
    ],
    "Networks": [
        PageSpec("pages/classify.py", "Classify a photo", ":material/image_search:", "classify",
                 "A pretrained network's top-5 answers for a sample, uploaded or camera photo."),
    ],
    "Practice": [
    ],
}


def all_pages() -> list[PageSpec]:
    return [page for pages in SECTIONS.values() for page in pages]
