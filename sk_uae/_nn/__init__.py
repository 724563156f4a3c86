"""Pure-torch pieces shared by the models, the attacks and MINE.

The neutral layer below :mod:`sk_uae.models` and :mod:`sk_uae.attacks`:
losses, augmentations, shape helpers, first-layer features and the attack
objectives. It imports nothing of the package but :mod:`sk_uae.utils`, so
both layers above can use it without importing each other. The public
names are re-exported by :mod:`sk_uae.models` and :mod:`sk_uae.attacks`.
"""
