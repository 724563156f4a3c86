"""Skorch nets and torch modules for the models that UAEs attack."""

from ._autoencoder import AutoencoderNet
from ._features import first_layer_features
from ._modules import ConvAutoencoder, DenseAutoencoder, SparseAutoencoder

__all__ = [
    "AutoencoderNet",
    "ConvAutoencoder",
    "DenseAutoencoder",
    "SparseAutoencoder",
    "first_layer_features",
]
