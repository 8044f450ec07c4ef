"""The built-in training plugin: sampling strategies, external datasets, backbones and
losses. Listing these components never imports TensorFlow; their factories do."""

from __future__ import annotations

from mammokit.components import Component
from mammokit.hookspecs import hookimpl
from mammokit.train.backbones import backbone_components
from mammokit.train.external import external_components
from mammokit.train.losses import loss_components
from mammokit.train.sampling import sampling_components


@hookimpl
def mammokit_sampling_strategies() -> list[Component]:
    return sampling_components()


@hookimpl
def mammokit_external_datasets() -> list[Component]:
    return external_components()


@hookimpl
def mammokit_backbones() -> list[Component]:
    return backbone_components()


@hookimpl
def mammokit_losses() -> list[Component]:
    return loss_components()
