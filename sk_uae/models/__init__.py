"""Skorch nets and torch modules for the models that UAEs attack."""

from ._autoencoder import AutoencoderNet
from ._classifier_net import ClassifierNet
from ._classifiers import CNNClassifierModule, MLPClassifierModule
from ._features import first_layer_features
from ._modules import ConvAutoencoder, DenseAutoencoder, SparseAutoencoder

__all__ = [
    "AutoencoderNet",
    "CNNClassifierModule",
    "ClassifierNet",
    "ConvAutoencoder",
    "DenseAutoencoder",
    "MLPClassifierModule",
    "SparseAutoencoder",
    "first_layer_features",
]
