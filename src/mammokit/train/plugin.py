"""The built-in training plugin: sampling strategies, external datasets, backbones,
losses and pretraining methods. Listing these components never imports TensorFlow; their
factories do."""

from __future__ import annotations

from mammokit.plugins.components import Component
from mammokit.plugins.hookspecs import hookimpl
from mammokit.plugins.protocols import (
    Backbone,
    ExternalDataset,
    Loss,
    PretrainingMethod,
    SamplingStrategy,
)
from mammokit.train.backbones import backbone_components
from mammokit.train.external import external_components
from mammokit.train.losses import loss_components
from mammokit.train.pretrain.fcmae import pretraining_components
from mammokit.train.sampling import sampling_components


@hookimpl
def mammokit_sampling_strategies() -> list[Component[SamplingStrategy]]:
    return sampling_components()


@hookimpl
def mammokit_external_datasets() -> list[Component[ExternalDataset]]:
    return external_components()


@hookimpl
def mammokit_backbones() -> list[Component[Backbone]]:
    return backbone_components()


@hookimpl
def mammokit_losses() -> list[Component[Loss]]:
    return loss_components()


@hookimpl
def mammokit_pretraining_methods() -> list[Component[PretrainingMethod]]:
    return pretraining_components()
