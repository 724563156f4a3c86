"""Skorch nets and torch modules for the models that UAEs attack."""

from .._nn.augment import ImageAugment, TabularAugment
from .._nn.features import first_layer_features
from .._nn.losses import NTXentLoss, nt_xent, nt_xent_bank
from ._autoencoder import AutoencoderNet
from ._classifier_net import ClassifierNet
from ._classifiers import CNNClassifierModule, MLPClassifierModule
from ._callbacks import TemperatureAnnealing
from ._concrete import ConcreteAutoencoder, ConcreteAutoencoderNet, ConcreteSelector
from ._contrastive import ContrastiveNet, ConvEncoder, MLPEncoder
from ._modules import ConvAutoencoder, DenseAutoencoder, SparseAutoencoder
from ._persist import load_net_params

__all__ = [
    "AutoencoderNet",
    "CNNClassifierModule",
    "ClassifierNet",
    "ConcreteAutoencoder",
    "ConcreteAutoencoderNet",
    "ConcreteSelector",
    "ContrastiveNet",
    "ConvAutoencoder",
    "ConvEncoder",
    "DenseAutoencoder",
    "ImageAugment",
    "MLPClassifierModule",
    "MLPEncoder",
    "NTXentLoss",
    "SparseAutoencoder",
    "TabularAugment",
    "TemperatureAnnealing",
    "first_layer_features",
    "load_net_params",
    "nt_xent",
    "nt_xent_bank",
]
