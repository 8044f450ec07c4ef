"""Every component of a training run, resolved and checked before TensorFlow starts.

A misspelt backbone, loss, sampling strategy or external dataset, or an option its factory
refuses, is a :class:`~mammokit.ConfigError` before TensorFlow is imported and before
anything is written to the run folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from mammokit.plugins import manager_or_shared
from mammokit.train.config import TrainConfig
from mammokit.train.external import parse_external
from mammokit.train.pretrain.encoder import check_fine_tuning

if TYPE_CHECKING:
    from mammokit.scoring.metricset import MetricSet

__all__ = ["TrainComponents", "check_train_components", "resolve_train_components"]


@attrs.frozen
class TrainComponents:
    """The built components of one training run.

    Attributes:
        sampler: the sampling strategy (``plan(...)``, ``class_weight``).
        loss: the Keras loss (building it imports TensorFlow, after its options are
            checked).
        metrics: the validation metrics of ``history.csv`` (``mammokit_metrics``).
    """

    sampler: Any
    loss: Any
    metrics: MetricSet


def check_train_components(
    config: TrainConfig, manager: pluggy.PluginManager
) -> tuple[MetricSet, Any]:
    """Everything about ``config``'s components that needs no TensorFlow: the validation
    metrics (built), the backbone (its name, and its options against the factory's
    signature; it is built with the model), a pretraining run given as ``pretrained`` (its
    backbone and input mode), each external dataset (its name and options), and the
    sampling strategy (built).

    Returns:
        ``(metrics, sampler)``.

    Raises:
        ConfigError: an unknown name (listing the choices) or a refused option, naming the
            component.
    """
    from mammokit.scoring.metricset import select_metrics

    metrics = select_metrics(
        config.validation_metrics,
        config.metric_options,
        manager=manager,
        allow_threshold=False,
        where="train.metrics",
    )
    check_fine_tuning(config)  # a pretraining run's backbone and input mode
    plugins = manager_or_shared(manager)
    plugins.check_backbone(
        config.backbone, (32, 32, 3), pretrained=config.pretrained, **config.backbone_options
    )
    for spec in config.external:
        name, path, options = parse_external(spec)
        plugins.check_external_dataset(name, path, **options)
    sampler = plugins.build_sampling(config.sampling, **config.sampling_options)
    return metrics, sampler


def resolve_train_components(config: TrainConfig, manager: pluggy.PluginManager) -> TrainComponents:
    """Resolve every name in ``config`` and build what can be built without a model:
    :func:`check_train_components`, then the loss (a loss factory checks its options before
    it imports TensorFlow).

    Raises:
        ConfigError: an unknown name (listing the choices) or a refused option, naming the
            component.
    """
    metrics, sampler = check_train_components(config, manager)
    loss = manager_or_shared(manager).build_loss(config.loss, **config.loss_options)
    return TrainComponents(sampler=sampler, loss=loss, metrics=metrics)
