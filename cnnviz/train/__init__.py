"""Training labs: real MNIST offline, a NumPy CNN from scratch, its PyTorch twin, one loop;
plain and residual networks of the depth problem (He et al.'s 6n+2 family); and transfer
learning on a student's own photos (the chapter's soil lab).

No Streamlit here: pages train through :mod:`cnnviz.train.jobs` (a background thread they
poll), and progress reaches them through the loop's callbacks.
"""

from cnnviz.train.depth.cifar_net import cifar_net
from cnnviz.train.transfer.image_folders import DatasetError, read_image_folders
from cnnviz.train.jobs import Job, JobLimitError, Snapshot, running_jobs, training_job
from cnnviz.train.loop import History, Learner, evaluate, fit, predict
from cnnviz.train.scratch.networks import NETS, Recipe, build_learner
from cnnviz.train.scratch.numpy_learner import NumpyLearner
from cnnviz.train.scratch.numpy_net import Network, scratch_cnn
from cnnviz.train.offline_mnist import (
    DIGITS,
    ImageSet,
    Split,
    Standardise,
    mnist_split,
    mnist_subset,
    stratified_split,
    to_nchw,
)
from cnnviz.train.transfer.photo_set import PhotoSet
from cnnviz.train.torch_learner import TorchLearner

__all__ = ["DIGITS", "NETS", "DatasetError", "History", "ImageSet", "Job", "JobLimitError",
           "Learner", "Network", "NumpyLearner", "PhotoSet", "Recipe", "Snapshot", "Split",
           "Standardise", "TorchLearner", "build_learner", "cifar_net", "evaluate", "fit",
           "mnist_split", "mnist_subset", "predict", "read_image_folders", "running_jobs",
           "scratch_cnn", "stratified_split", "to_nchw", "training_job"]
