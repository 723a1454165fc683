"""``python -m cnnviz.architectures --rebuild``: measure the chapter's models again."""

from cnnviz.architectures.table import main

main()
