"""ClassifierNet: a skorch classifier whose modules output logits."""

import numpy as np
import torch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNetClassifier

from ..utils import labels_to_indices
from ..utils._docstring import X_ROWS_DOC, fill_doc
from ._classifiers import MLPClassifierModule
from ._net import NET_DOCS, SeededNetMixin


@fill_doc(**NET_DOCS)
class ClassifierNet(SeededNetMixin, NeuralNetClassifier):
    """Skorch classifier for the modules of :mod:`sk_uae.models` (logit outputs).

    Differences from :class:`skorch.NeuralNetClassifier`, all so that it
    behaves as a scikit-learn classifier and can be attacked:

    * the module outputs **logits** and the default criterion is
      ``torch.nn.CrossEntropyLoss``; ``predict_proba`` applies the softmax;
    * labels of any type are accepted: ``classes_`` are the sorted unique
      labels of ``y`` (or the ``classes`` parameter, in its order) and
      ``predict`` returns them (not indices);
    * the module's ``input_dim`` and ``n_classes`` are taken from the data at
      fit time;
    * ``X`` is validated and cast to float32; ``random_state`` seeds the
      weight initialisation and the batch shuffling.

    The attacks of :mod:`sk_uae.attacks` find the net's logits through its
    criterion: with ``torch.nn.NLLLoss`` (skorch's convention: the module
    outputs probabilities) they take the log of the outputs, otherwise they use
    the outputs as they are.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=MLPClassifierModule
        The classifier; it maps a batch to logits ``(B, n_classes)``. A
        class is instantiated at fit with the ``module__*`` parameters and
        ``input_dim`` and ``n_classes`` from the data. The only positional
        parameter: the others are keyword-only.
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
        Training loss on the logits and the label indices.
    %(optimizer)s
    batch_size : int, default=128
        Rows per training step, and per chunk at inference; ``-1`` means all
        rows at once.
    %(train_split)s
    random_state : int, RandomState or None, default=None
        Seeds the weight initialisation and the shuffling of the training
        rows (``iterator_train__shuffle=True`` by default here, unlike
        skorch), and any other torch draw during training. ``None`` draws a
        fresh seed at every fit.
    **kwargs
        Passed to :class:`skorch.NeuralNetClassifier` (``module__*``,
        ``optimizer__*``, ``callbacks``, ``device``, ``classes``...).
        ``classes``, in any order, fixes ``classes_`` and so the order of
        the logit and probability columns.

    Attributes
    ----------
    module_ : torch.nn.Module
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    history_ : skorch.History

    Examples
    --------
    >>> import numpy as np
    >>> from sk_uae.models import ClassifierNet
    >>> rng = np.random.RandomState(0)
    >>> X, y = rng.rand(64, 8).astype("float32"), np.array(["a", "b"] * 32)
    >>> clf = ClassifierNet(max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).dtype.kind, clf.predict_proba(X[:3]).shape
    ('U', (3, 2))
    """

    def __init__(
        self,
        module=MLPClassifierModule,
        *,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=20,
        batch_size=128,
        train_split=None,
        verbose=0,
        random_state=None,
        **kwargs,
    ):
        # shuffled training rows (skorch's default is not to shuffle)
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            verbose=verbose,
            **kwargs,
        )
        self.random_state = random_state

    # ------------------------------------------------------------------ skorch hooks
    def _module_kwargs_from_data(self):
        return {"input_dim": self.n_features_in_, "n_classes": len(self.classes_)}

    def check_data(self, X, y):
        # labels are validated and encoded in fit; skorch must not re-infer
        # the classes from the encoded indices
        pass

    # --------------------------------------------------------------- sklearn API
    def fit(self, X, y, **fit_params):
        """Train the classifier from scratch (unless ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows; cast to float32.
        y : array-like of shape (n_samples,)
            Class labels of any type, at least two classes; ``classes_``
            are their sorted unique values (unless ``classes`` is set).
        **fit_params : dict
            Passed on by skorch to the module's ``forward``.

        Returns
        -------
        self
        """
        warm = self.warm_start and self.initialized_
        X, y_idx = self._validate_fit_data(X, y, reset=not warm)
        return self._train(X, y_idx, initialize=not warm, **fit_params)

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Continue training for ``max_epochs`` epochs.

        The first call (on an uninitialised net) initialises the module and
        fixes ``classes_``; later calls keep the weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows; cast to float32.
        y : array-like of shape (n_samples,)
            Class labels, among ``classes_`` after the first call.
        classes : array-like of shape (n_classes,), default=None
            All the classes, for a first call whose ``y`` may not contain
            every class (sets the ``classes`` parameter; their order is the
            order of ``classes_`` and of the output columns); ignored on
            later calls.
        **fit_params : dict
            Passed on by skorch to the module's ``forward``.

        Returns
        -------
        self
        """
        first = not self.initialized_
        if first and classes is not None:
            self.set_params(classes=classes)
        X, y_idx = self._validate_fit_data(X, y, reset=first)
        return self._train(X, y_idx, initialize=first, **fit_params)

    def _validate_fit_data(self, X, y, reset):
        X, y = validate_data(self, X, y, dtype=np.float32, reset=reset)
        check_classification_targets(y)
        if reset:
            if self.classes is None:
                self.classes_inferred_ = np.unique(y)
            elif len(set(np.asarray(self.classes, dtype=object).tolist())) != len(self.classes):
                raise ValueError(
                    f"classes must not repeat a label; got classes={list(self.classes)!r}.")
            if len(self.classes_) < 2:
                raise ValueError(
                    f"ClassifierNet needs samples of at least 2 classes in y; got "
                    f"{len(self.classes_)} class ({self.classes_!r})."
                )
        return X, self.encode_labels(y)

    def encode_labels(self, y):
        """Indices into ``classes_`` of the labels ``y`` (int64).

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Class labels, elements of ``classes_``.

        Returns
        -------
        ndarray of int64 of shape (n_samples,)

        Raises
        ------
        ValueError
            If a label is not among ``classes_``.
        """
        return labels_to_indices(y, self.classes_)

    def _logits(self, X):
        check_is_fitted(self, "module_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        probabilities = isinstance(self.criterion_, torch.nn.NLLLoss)

        def logits(xb):
            z = self.module_(xb)
            z = z[0] if isinstance(z, (tuple, list)) else z
            return torch.log(z + torch.finfo(z.dtype).eps) if probabilities else z

        return self._forward_batches(logits, X, np.empty((0, len(self.classes_)), np.float32))

    @fill_doc(X=X_ROWS_DOC)
    def decision_function(self, X):
        """Logits of ``X``: shape (n_samples, n_classes), or (n_samples,) with two classes.

        With two classes, as scikit-learn expects, the score of the second
        class: ``Z_1 - Z_0`` (positive means ``classes_[1]``).

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray of shape (n_samples, n_classes) or (n_samples,), float32
        """
        z = self._logits(X)
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    @fill_doc(X=X_ROWS_DOC)
    def predict_proba(self, X):
        """Class probabilities (softmax of the logits), shape (n_samples, n_classes).

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray of shape (n_samples, n_classes), float64
            Columns in the order of ``classes_``.
        """
        z = self._logits(X).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    @fill_doc(X=X_ROWS_DOC)
    def predict(self, X):
        """Predicted labels (elements of ``classes_``).

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray of shape (n_samples,)
            The class of the largest logit.
        """
        idx = self._logits(X).argmax(axis=1)
        return self.classes_[idx]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = self.random_state is None
        return tags
