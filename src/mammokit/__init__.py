"""mammokit: breast-cancer detection on screening mammograms, built from plugins.

Only the names in ``__all__`` are public; everything else may change without notice.
"""

from __future__ import annotations

from mammokit._version import VERSION
from mammokit.app.run import Ensemble, Pipeline, Run, RunEvaluation
from mammokit.core.config import PredictConfig, PredictOptions, PreprocessConfig, ReportOptions
from mammokit.core.errors import (
    ConfigError,
    DicomDecodeError,
    ImageReadError,
    MammokitError,
    OutputWriteError,
    PluginError,
    ResourceLimitError,
)
from mammokit.core.images import CropBox, DecodedImage, ImageMeta, Preprocessed, WindowedImage
from mammokit.data import (
    DatasetOptions,
    preprocess_dataset,
    read_index,
    read_table,
    split_table,
)
from mammokit.plugins import (
    MammokitPluginManager,
    PluginInfo,
    build_component,
    get_components,
    get_plugin_manager,
    hookimpl,
    list_plugins,
    reset_plugin_managers,
    resolve_component,
)
from mammokit.plugins.components import (
    BackboneComponent,
    Component,
    DecoderComponent,
    ExternalDatasetComponent,
    LossComponent,
    MetricComponent,
    PadderComponent,
    PretrainingMethodComponent,
    RoiExtractorComponent,
    SamplingStrategyComponent,
    ThresholdPolicyComponent,
    WindowingMethodComponent,
)
from mammokit.plugins.protocols import (
    Backbone,
    CropWindowing,
    Decoder,
    ExternalDataset,
    Loss,
    MeanTableWindowing,
    Metric,
    Padder,
    PaddingWindowing,
    PlacingPadder,
    PretrainingMethod,
    RoiExtractor,
    SamplingStrategy,
    ThresholdPolicy,
    ValuesRoiExtractor,
    WindowingMethod,
)
from mammokit.preprocess.windowing import apply_voi_lut
from mammokit.scoring.metrics import pfbeta
from mammokit.synthetic import SynthConfig, write_dataset
from mammokit.train.config import AugmentConfig, TrainConfig
from mammokit.train.pretrain.config import PretrainConfig

__version__ = VERSION

__all__ = [
    "AugmentConfig",
    "Backbone",
    "BackboneComponent",
    "Component",
    "ConfigError",
    "CropBox",
    "CropWindowing",
    "DatasetOptions",
    "DecodedImage",
    "Decoder",
    "DecoderComponent",
    "DicomDecodeError",
    "Ensemble",
    "ExternalDataset",
    "ExternalDatasetComponent",
    "ImageMeta",
    "ImageReadError",
    "Loss",
    "LossComponent",
    "MammokitError",
    "MammokitPluginManager",
    "MeanTableWindowing",
    "Metric",
    "MetricComponent",
    "OutputWriteError",
    "Padder",
    "PadderComponent",
    "PaddingWindowing",
    "Pipeline",
    "PlacingPadder",
    "PluginError",
    "PluginInfo",
    "PredictConfig",
    "PredictOptions",
    "PreprocessConfig",
    "Preprocessed",
    "PretrainConfig",
    "PretrainingMethod",
    "PretrainingMethodComponent",
    "ReportOptions",
    "ResourceLimitError",
    "RoiExtractor",
    "RoiExtractorComponent",
    "Run",
    "RunEvaluation",
    "SamplingStrategy",
    "SamplingStrategyComponent",
    "SynthConfig",
    "ThresholdPolicy",
    "ThresholdPolicyComponent",
    "TrainConfig",
    "ValuesRoiExtractor",
    "WindowedImage",
    "WindowingMethod",
    "WindowingMethodComponent",
    "apply_voi_lut",
    "build_component",
    "get_components",
    "get_plugin_manager",
    "hookimpl",
    "list_plugins",
    "pfbeta",
    "preprocess_dataset",
    "read_index",
    "read_table",
    "reset_plugin_managers",
    "resolve_component",
    "split_table",
    "write_dataset",
    "__version__",
]
