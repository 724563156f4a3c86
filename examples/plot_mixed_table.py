"""
======================================================
A raw mixed-type table: UAEs that keep its constraints
======================================================

A table as people have it is not a float matrix: it has categorical string
columns, integer counts and scores, and columns that must not change. This
example takes such a table -- the *affairs* survey bundled with statsmodels
(``statsmodels.api.datasets.fair``) -- encodes it with
:func:`sk_uae.tabular.make_table_encoder`, declares its constraints with
:meth:`sk_uae.FeatureConstraints.from_column_transformer`, makes
unsupervised adversarial examples (UAEs) with :class:`sk_uae.UAEGenerator`
and maps them back with :func:`sk_uae.tabular.inverse_table` to a DataFrame
of the same columns and dtypes. The same attack without constraints gives
rows that are no longer valid encodings of any row of the table.
"""

# %%
# The raw table
# -------------
# 600 rows of the survey (a random subset, to keep the example short).
# ``occupation`` is a nominal code (1 student, ..., 6 professional), so it
# becomes a categorical column of strings; ``religious`` (1 to 4) and
# ``educ`` (years of schooling) are integers; the other columns stay floats.

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import statsmodels.api as sm

from sk_uae import FeatureConstraints, UAEGenerator
from sk_uae.attacks import MinMaxMINE
from sk_uae.metrics import constraint_satisfaction
from sk_uae.models import AutoencoderNet, DenseAutoencoder
from sk_uae.tabular import inverse_table, make_table_encoder

raw = sm.datasets.fair.load_pandas().data.sample(600, random_state=0).reset_index(drop=True)
occupations = {1: "student", 2: "unskilled", 3: "white collar", 4: "skilled",
               5: "managerial", 6: "professional"}
df = raw[["rate_marriage", "age", "yrs_married", "children", "religious", "educ",
          "occupation", "affairs"]].copy()
df["occupation"] = pd.Categorical(df["occupation"].map(occupations))
df["religious"] = df["religious"].astype(np.int64)
df["educ"] = df["educ"].astype(np.int64)
df_fit, df_att = df.iloc[:500], df.iloc[500:560]
print(df.dtypes.to_string())

# %%
# Encode, declare the constraints
# -------------------------------
# :func:`~sk_uae.tabular.make_table_encoder` one-hot encodes the categorical
# column and scales the numeric ones to [0, 1]. Read from the fitted encoder,
# :meth:`~sk_uae.FeatureConstraints.from_column_transformer` gives the
# one-hot group of ``occupation``, the integer grid of ``religious`` and
# ``educ`` after the scaler, and the observed range of every numeric column;
# ``age`` and ``educ`` are declared immutable (an attack should not rejuvenate
# anybody), which applies to the output columns made from them.

encoder = make_table_encoder(df_fit).fit(df_fit)
X_fit = encoder.transform(df_fit).astype(np.float32)
X_att = encoder.transform(df_att).astype(np.float32)
constraints = FeatureConstraints.from_column_transformer(encoder, df_fit,
                                                         immutable=["age", "educ"])
print(X_fit.shape, list(encoder.get_feature_names_out()))

# %%
# UAEs with and without the constraints
# -------------------------------------
# A small dense autoencoder, and :class:`~sk_uae.attacks.MinMaxMINE` with its
# default box ``eps=0.3`` (in units of each column's range) and 20
# iterations with small MINE networks. The second generator attacks the same
# fitted autoencoder (``prefit=True``) without constraints.

autoencoder = AutoencoderNet(DenseAutoencoder, module__hidden_units=6, max_epochs=60,
                             batch_size=64, lr=1e-2, random_state=0)
attack = MinMaxMINE(max_iter=20, n_pairs=16, pair_dim=8, n_mine_steps=5)
gen = UAEGenerator(autoencoder, attack, constraints=constraints, random_state=0).fit(X_fit)
X_adv, info = gen.generate(X_att, return_info=True)
free = UAEGenerator(gen.estimator_, attack, prefit=True, random_state=0).fit(X_fit)
X_free, info_free = free.generate(X_att, return_info=True)

fitted = gen.constraints_  # the constraints fitted on the encoded rows
for name, Xa, inf in (("with constraints", X_adv, info), ("without", X_free, info_free)):
    print(f"{name:>16}: constraints kept by {constraint_satisfaction(Xa, X_att, fitted):.0%} "
          f"of the rows, UAE success {inf['success'].mean():.0%}")

# %%
# Back to the table
# -----------------
# :func:`~sk_uae.tabular.inverse_table` returns a DataFrame with the columns,
# dtypes and index of the attacked rows; values whose encoding did not change
# (the immutable ``age`` and ``educ``, say) are copied bit for bit. A few
# rows beside their UAEs:

df_adv = inverse_table(encoder, X_adv, df_att)
assert df_adv.dtypes.equals(df_att.dtypes)
side = pd.concat({"clean": df_att.head(3), "UAE": df_adv.head(3)}).swaplevel()
side = side.sort_index(level=0, sort_remaining=False)
with pd.option_context("display.width", 150, "display.max_columns", 20, "display.precision", 2):
    print(side)

# %%
# Letting the category change
# ---------------------------
# The repair sets a one-hot group to its largest relaxed value only if the
# change fits the budget; a new category moves two columns by 1, more than
# ``eps=0.3`` times the range 1 of a one-hot column, so above ``occupation``
# never changes. A per-column ``eps_scale`` array makes the unit of the
# one-hot columns ``1 / eps`` (a whole category change) and leaves the others
# at their range; a larger step (``lr=0.3``, a fraction of ``eps``) lets the
# relaxed group's largest value move to another category within 20 iterations
# (with the default 0.1 it did not here).

names = list(encoder.get_feature_names_out())
units = np.ptp(X_fit, axis=0).astype(np.float64)
units[[j for j, n in enumerate(names) if n.startswith("occupation_")]] = 1 / attack.eps
attack_cat = MinMaxMINE(max_iter=20, lr=0.3, n_pairs=16, pair_dim=8, n_mine_steps=5,
                        eps_scale=units)
cat = UAEGenerator(gen.estimator_, attack_cat, prefit=True, constraints=constraints,
                   random_state=0).fit(X_fit)
X_cat, info_cat = cat.generate(X_att, return_info=True)
df_cat = inverse_table(encoder, X_cat, df_att)
new_cat = (df_cat["occupation"] != df_att["occupation"]).to_numpy()
print(f"categories allowed: constraints kept by "
      f"{constraint_satisfaction(X_cat, X_att, fitted):.0%}, UAE success "
      f"{info_cat['success'].mean():.0%}; occupation changed on {new_cat.mean():.0%} of the "
      f"rows, UAE success among them {info_cat['success'][new_cat].mean():.0%}")

# %%
# Which columns moved
# -------------------
# The share of rows whose value changed, per raw column. Without constraints
# the immutable columns move and the unconstrained rows are not valid
# encodings (``inverse_table`` still rounds them to the nearest valid value,
# which hides that); with them, ``age`` and ``educ`` never move and integer
# columns move only by whole steps, rounded towards the clean value.

df_free = inverse_table(encoder, X_free, df_att)
shares = {"without constraints": (df_free != df_att).mean(),
          "with constraints": (df_adv != df_att).mean(),
          "with constraints, eps_scale array": (df_cat != df_att).mean()}
pos = np.arange(len(df.columns))
fig, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
for k, (label, share) in enumerate(shares.items()):
    ax.bar(pos + (k - 1) * 0.27, share.to_numpy(), width=0.27, label=label)
ax.set_xticks(pos, df.columns, rotation=30, ha="right")
ax.set_ylabel("share of rows changed")
ax.set_ylim(0, 1.3)
ax.legend(fontsize=8, ncol=3, loc="upper center")
ax.set_title("Fair affairs survey: UAEs per raw column")

# %%
# Reading the result
# ------------------
# The constrained UAEs keep every constraint and come back as rows of the
# table; the unconstrained ones keep none (every row moves its immutable
# columns a little and leaves its one-hot group relaxed). Success is
# re-checked after the repair -- rounding and the category choice can undo
# what made an example adversarial -- so it is lower with constraints than
# without. A change of category is a large move: on this run no example whose
# occupation changed still met the attack's goal. ``religious`` (1 to 4) never
# moves with constraints: ``eps=0.3`` of its range is 0.9 of a step, and the
# repair rounds towards the clean value. The attack's MI estimate
# (``info["mi"]``) is that of the example before the repair.
