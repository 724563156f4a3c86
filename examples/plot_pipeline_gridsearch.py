"""
================================================
Grid search over attack parameters in a Pipeline
================================================

:class:`sk_uae.UAEAugmenter` is a scikit-learn meta-estimator: it fits an
autoencoder, makes one adversarial example per training row, retrains the
autoencoder on the union and then behaves like the retrained model. Its
``transform`` returns the autoencoder's codes, so it can sit in a scikit-learn
``Pipeline`` in front of a classifier, and ``GridSearchCV`` reaches the
attack's parameters as ``augment__attack__<name>`` and the augmentation itself
as ``augment__ratio``.

Here the pipeline is "autoencoder codes, then logistic regression" on a small
part of scikit-learn's digits, and the grid compares unsupervised adversarial
examples (UAEs) of two sizes against two baselines that a fair comparison
needs: no augmentation with as many optimiser steps, and duplicated rows.
"""

# %%
# Data
# ----
# 300 training rows and 300 test rows of the 8x8 digits, scaled to [0, 1]
# (the attack clips its examples to that range).

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

from sk_uae import UAEAugmenter
from sk_uae.attacks import Duplicate, MinMaxMINE
from sk_uae.datasets import load_digits_images
from sk_uae.models import AutoencoderNet, DenseAutoencoder

X, y = load_digits_images()
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=300, test_size=300, stratify=y, random_state=0)
print(X_train.shape, X_test.shape)

# %%
# The pipeline
# ------------
# A dense autoencoder with a 32-unit sigmoid code, trained 20 epochs in batches
# of 50 rows; the nets of :mod:`sk_uae.models` shuffle the training rows every
# epoch (``iterator_train__shuffle=True`` by default, unlike plain skorch),
# seeded like the rest of the training. The attack is
# :class:`sk_uae.attacks.MinMaxMINE` with a step size of 0.1 and 12 iterations
# (the defaults are 0.01 and 40; the larger step lets the examples reach the
# ``eps`` box in few iterations, so that ``eps`` actually matters).
# ``random_state`` fixes the autoencoders' training, the choice of attacked
# rows and every draw of the attack.

autoencoder = AutoencoderNet(DenseAutoencoder, module__hidden_units=32, max_epochs=20,
                             batch_size=50, lr=1e-2)
pipe = Pipeline([
    ("augment", UAEAugmenter(autoencoder, MinMaxMINE(eps=0.1, lr=0.1, max_iter=12),
                             random_state=0)),
    ("clf", LogisticRegression(max_iter=2000)),
])

# %%
# The grid
# --------
# ``GridSearchCV`` accepts a list of grids, which gives one candidate per
# method:
#
# * **none**: ``ratio=0`` trains the autoencoder once on the original rows;
#   with 40 epochs instead of 20 it takes as many optimiser steps as the
#   augmented models, which train 20 epochs on twice as many rows;
# * **duplicate**: the :class:`sk_uae.attacks.Duplicate` "attack" returns its
#   input, so the training set is doubled with exact copies;
# * **UAE**: the MinMax MINE attack with ``eps`` 0.02 or 0.1 (one example per
#   training row, ``ratio=1.0``).
#
# Two folds keep the example fast; the score is the pipeline's, i.e. the
# accuracy of the logistic regression on the codes.

param_grid = [
    {"augment__ratio": [0.0], "augment__estimator__max_epochs": [40]},
    {"augment__attack": [Duplicate()]},
    {"augment__attack__eps": [0.02, 0.1]},
]
search = GridSearchCV(pipe, param_grid, cv=2)
search.fit(X_train, y_train)


# %%
# ``cv_results_``
# ---------------
# One row per candidate: mean and standard deviation of the accuracy over the
# two folds, and the mean fitting time (which includes the attack; the first
# candidate's also includes torch's one-off start-up cost).


def label(params):
    if params.get("augment__ratio") == 0.0:
        return "none (40 epochs)"
    if "augment__attack" in params:
        return "duplicate"
    return f"UAE eps={params['augment__attack__eps']}"


res = search.cv_results_
labels = [label(p) for p in res["params"]]
print(f"{'candidate':<18} {'accuracy':>17} {'fit s':>7} {'rank':>5}")
for i, name in enumerate(labels):
    print(f"{name:<18} {res['mean_test_score'][i]:.3f} +- {res['std_test_score'][i]:.3f}"
          f" {res['mean_fit_time'][i]:7.1f} {res['rank_test_score'][i]:5d}")

fig, ax = plt.subplots(figsize=(6, 3.2))
pos = np.arange(len(labels))
ax.barh(pos, res["mean_test_score"], xerr=res["std_test_score"], color="tab:blue",
        alpha=0.8, capsize=3)
ax.set_yticks(pos, labels)
ax.invert_yaxis()
lo = res["mean_test_score"].min() - 2 * res["std_test_score"].max() - 0.02
ax.set_xlim(max(0.0, lo), 1.0)
ax.set_xlabel("cross-validated accuracy (2 folds)")
ax.set_title("Autoencoder codes + logistic regression, digits")
fig.tight_layout()

# %%
# The refitted pipeline
# ---------------------
# ``best_estimator_`` was refitted on all 300 training rows with the best
# parameters; the test rows were not used for the choice.

best = search.best_estimator_
print("best candidate:", label(search.best_params_))
print(f"test accuracy of the best pipeline: {best.score(X_test, y_test):.3f}")
augmenter = best.named_steps["augment"]
print("rows the final autoencoder was trained on:", augmenter.n_train_samples_)
if augmenter.generator_ is not None:
    info = augmenter.uae_info_
    print(f"attack success rate on the training rows: {augmenter.uae_success_rate_:.2f}")
    print(f"mean L-infinity distortion: {info['distortion_linf'].mean():.3f}")

# %%
# What to read from this
# ----------------------
# With two folds of 150 rows the differences between candidates are of the
# order of their fold-to-fold spread, so this run says little about which
# method is better; it shows the mechanics. For the measured comparison (more
# rows, five seeds, equal step budgets) see ``docs/results.md``: there UAE
# augmentation was never better than the best baseline (more epochs on the
# original rows, matched noise or PGD perturbations, depending on the task),
# though sometimes slightly better than duplicated rows. To rank candidates by
# a property of the attack itself (success rate, distortion, similarity)
# instead of a downstream score, tune a
# :class:`sk_uae.UAEGenerator` with the scorers of ``sk_uae.metrics``
# (``make_attack_scorer``).
