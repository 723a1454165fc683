"""After training: the confusion matrix and the worst mistakes."""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Counts (classes, classes): row = true class, column = predicted class."""
    return np.bincount(labels * classes + predicted, minlength=classes * classes).reshape(
        classes, classes)


def row_normalised(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its total: the share of each true class given each answer (the
    diagonal is the recall per class)."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)


def worst_mistakes(probabilities: np.ndarray, labels: np.ndarray, k: int = 12) -> list[dict]:
    """The ``k`` wrong answers given with the most confidence, most confident first."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    order = wrong[np.argsort(-confidence, kind="stable")][:k]
    return [{"index": int(i), "label": int(labels[i]), "predicted": int(predicted[i]),
             "p_predicted": float(probabilities[i, predicted[i]]),
             "p_label": float(probabilities[i, labels[i]])} for i in order]
