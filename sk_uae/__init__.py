"""sk_uae: adversarial examples as data augmentation, the scikit-learn way."""

__version__ = "0.1.0.dev0"
