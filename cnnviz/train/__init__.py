"""Training labs. Transfer learning on a student's own photos (the chapter's soil lab):
class folders from a zip or the offline texture demo, a pretrained backbone with the
chapter's head, its three fine-tuning phases, and the evaluation after.
"""

from cnnviz.train.image_folders import DatasetError, read_image_folders
from cnnviz.train.photo_set import PhotoSet

__all__ = ["DatasetError", "PhotoSet", "read_image_folders"]
