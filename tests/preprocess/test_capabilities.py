"""The speed paths are capabilities open to every plugin (mammokit.plugins.protocols).

Third-party windowing methods, padders and ROI extractors defined here (none of them a
subclass of a built-in) are registered as inline plugins. Those that declare a capability
take its path (the capability's method is called, the exact path's ``__call__`` is not);
those that declare nothing take the exact order, with the output of the exact order
written out by hand, and of the built-ins where these take the exact order themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pluggy
import pytest
from phantom_helpers import dicom, phantom

import mammokit
from mammokit import (
    Component,
    CropBox,
    CropWindowing,
    DecodedImage,
    ImageMeta,
    MammokitError,
    MeanTableWindowing,
    PlacingPadder,
    ValuesRoiExtractor,
    WindowedImage,
    hookimpl,
)
from mammokit.preprocess.breast import BreastMask, mask_box, reduced_values
from mammokit.preprocess.pad import AspectPad
from mammokit.preprocess.resize import resize
from mammokit.preprocess.roi import OtsuCrop, ProfileCrop
from mammokit.preprocess.windowing import MinMax, VoiLut, stored_value_domain
from mammokit.synthetic import Encoding

CORPUS = Path(__file__).parents[1] / "corpus"

# --- third-party components ----------------------------------------------------------------


class HeaderRamp:
    """A windowing method of its own: the header's first window as a linear ramp to uint8,
    through a table over the stored values. Declares no capability."""

    def __init__(self) -> None:
        self.calls = 0

    def table(self, meta: ImageMeta, stored: np.ndarray) -> np.ndarray:
        """(N,) stored values (or means) -> (N,) uint8."""
        values = stored * meta.rescale_slope + meta.rescale_intercept
        center, width = meta.window_centers[0], meta.window_widths[0]
        norm = np.clip((values - (center - width / 2)) / width, 0.0, 1.0)
        if meta.photometric == "MONOCHROME1":
            norm = 1.0 - norm
        return np.rint(norm * 255).astype(np.uint8)

    def __call__(self, decoded: DecodedImage) -> WindowedImage:
        self.calls += 1
        values, index = stored_value_domain(decoded.pixels)
        pixels = self.table(decoded.meta, values)[index]
        return WindowedImage(pixels=pixels, meta=decoded.meta, max_value=255, scale=decoded.scale)


class TableRamp(HeaderRamp):
    """:class:`HeaderRamp` that declares :class:`MeanTableWindowing`."""

    def __init__(self) -> None:
        super().__init__()
        self.table_calls = 0

    def table_of_means(self, meta: ImageMeta, means: np.ndarray) -> np.ndarray | None:
        self.table_calls += 1
        return self.table(meta, means)


def _corner_frame(shape: tuple[int, int], aspect: float) -> tuple[int, int]:
    height, width = shape
    if height < width * aspect:
        return max(height, round(width * aspect)), width
    return height, max(width, round(height / aspect))


class CornerPad:
    """A padder of its own: the crop in the top-left corner. Declares no capability."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, pixels: np.ndarray, aspect: float, background: int = 0) -> np.ndarray:
        self.calls += 1
        out = np.full(_corner_frame(pixels.shape, aspect), background, dtype=pixels.dtype)
        out[: pixels.shape[0], : pixels.shape[1]] = pixels
        return out


class PlacingCornerPad(CornerPad):
    """:class:`CornerPad` that declares :class:`PlacingPadder`."""

    def __init__(self) -> None:
        super().__init__()
        self.placements = 0

    def placement(
        self, shape: tuple[int, int], aspect: float
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        self.placements += 1
        return _corner_frame(shape, aspect), (0, 0)


class Delegating:
    """A built-in behind a plain object: its ``__call__`` only, no capability."""

    def __init__(self, inner: Callable[..., Any]) -> None:
        self.inner = inner
        self.fallback = getattr(inner, "fallback", ())

    def __call__(self, *args: Any) -> Any:
        return self.inner(*args)


class BrightValues:
    """An ROI extractor of its own on the modality values (a :class:`ValuesRoiExtractor`):
    the pixels above the mean of the reduced copy. ``__call__`` is for display values."""

    def __init__(self, *, find: bool = True) -> None:
        self.find = find
        self.fallback = ("otsu",)
        self.display_calls = 0

    def reduce(self, decoded: DecodedImage) -> tuple[np.ndarray, int]:
        return reduced_values(decoded, max_side=256)

    def mask(self, values: np.ndarray) -> np.ndarray | None:
        return values > values.mean()

    def box(self, values: np.ndarray, mask: np.ndarray | None) -> CropBox | None:
        return mask_box(mask) if self.find and mask is not None else None

    def __call__(self, pixels: np.ndarray) -> CropBox | None:
        self.display_calls += 1
        return None


def _plain_voi(**options: Any) -> Delegating:
    return Delegating(VoiLut(**options))


def _plain_aspect(**options: Any) -> Delegating:
    return Delegating(AspectPad(**options))


class ThirdParty:
    """The inline plugin registering them."""

    @hookimpl
    def mammokit_windowing_methods(self) -> list[Component[Any]]:
        return [
            Component("ramp", "Header window as a ramp", lambda: HeaderRamp()),
            Component("table_ramp", "The ramp, through block means", lambda: TableRamp()),
            Component("plain_voi", "voi_lut behind a plain object", _plain_voi),
        ]

    @hookimpl
    def mammokit_padders(self) -> list[Component[Any]]:
        return [
            Component("corner", "Crop in the top-left corner", lambda: CornerPad()),
            Component("placing_corner", "The corner pad, placing", lambda: PlacingCornerPad()),
            Component("plain_aspect", "aspect_pad behind a plain object", _plain_aspect),
        ]

    @hookimpl
    def mammokit_roi_extractors(self) -> list[Component[Any]]:
        return [
            Component("bright", "Above the mean of the values", lambda **o: BrightValues(**o)),
            Component("plain_profile", "profile_crop, plain", lambda: Delegating(ProfileCrop())),
        ]


@pytest.fixture(scope="module")
def manager() -> pluggy.PluginManager:
    return mammokit.get_plugin_manager(plugins=[ThirdParty()], load_entry_points=False)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Phantom DICOMs large enough for a 96x48 output to be box-reduced first (both sides,
    MONOCHROME1 and 2, a rescale), stored uncompressed (decoded at full resolution)."""
    folder = tmp_path_factory.mktemp("capabilities")
    encodings = [
        Encoding(bits_stored=12),
        Encoding(photometric="MONOCHROME1", bits_stored=14, rescale=True),
    ]
    return [
        dicom(folder / f"{i}.dcm", phantom((900, 720), seed=i, right=bool(i % 2)), encoding)
        for i, encoding in enumerate(encodings)
    ]


def _exact(path: Path, out: mammokit.Preprocessed, size: tuple[int, int]) -> np.ndarray:
    """The exact order written out: the whole image windowed (HeaderRamp), cut at the
    crop box, breast-left, padded (CornerPad), resized."""
    decoded = mammokit.Pipeline().decode(path)
    windowed = HeaderRamp()(decoded)
    box = out.crop_box
    crop = windowed.pixels[box.y0 : box.y1, box.x0 : box.x1]
    if out.laterality == "R":
        crop = crop[:, ::-1]
    padded = CornerPad()(crop, size[0] / size[1], 0)
    return resize(padded, size, max_value=255, dtype="uint8")


# --- the built-ins declare the capabilities as any plugin would --------------------------


def test_the_builtins_declare_their_capabilities() -> None:
    assert isinstance(VoiLut(), CropWindowing) and isinstance(VoiLut(), MeanTableWindowing)
    assert isinstance(AspectPad(), PlacingPadder)
    assert isinstance(BreastMask(), ValuesRoiExtractor)
    assert not isinstance(MinMax(), CropWindowing | MeanTableWindowing)
    assert not isinstance(ProfileCrop(), ValuesRoiExtractor)
    assert not isinstance(OtsuCrop(), ValuesRoiExtractor)
    for plain in (HeaderRamp(), CornerPad(), Delegating(VoiLut()), Delegating(AspectPad())):
        assert not isinstance(plain, CropWindowing | MeanTableWindowing | PlacingPadder)


# --- declared: the fast path; declared nothing: the exact order --------------------------


def test_plugins_that_declare_the_capabilities_take_the_fast_path(
    manager: pluggy.PluginManager, big: list[Path]
) -> None:
    size = (96, 48)
    fast = mammokit.Pipeline(
        window="table_ramp", padder="placing_corner", size=size, manager=manager
    )
    window, padder = fast.stages.window_method, fast.stages.pad
    for path in big:
        out = fast.preprocess(path)
        exact = _exact(path, out, size)
        difference = np.abs(out.pixels.astype(int) - exact.astype(int))
        assert difference.mean() < 1.0 and difference.max() <= 24, path.name
    assert window.table_calls == len(big) and window.calls == 0
    assert padder.placements == len(big) and padder.calls == 0


def test_plugins_that_declare_nothing_take_the_exact_order(
    manager: pluggy.PluginManager, big: list[Path]
) -> None:
    size = (96, 48)
    plain = mammokit.Pipeline(window="ramp", padder="corner", size=size, manager=manager)
    for path in big:
        out = plain.preprocess(path)
        assert np.array_equal(out.pixels, _exact(path, out, size)), path.name
    assert plain.stages.window_method.calls == len(big)
    assert plain.stages.pad.calls == len(big)


def test_each_capability_is_used_on_its_own(manager: pluggy.PluginManager, big: list[Path]) -> None:
    """A placing padder with a plain window: the crop is windowed, box-reduced and placed;
    a table window with a plain padder: no box reduction, so no table either."""
    size = (96, 48)
    placed = mammokit.Pipeline(window="ramp", padder="placing_corner", size=size, manager=manager)
    tabled = mammokit.Pipeline(window="table_ramp", padder="corner", size=size, manager=manager)
    placed.preprocess(big[0])
    tabled.preprocess(big[0])
    assert placed.stages.window_method.calls == 1 and placed.stages.pad.calls == 0
    assert placed.stages.pad.placements == 1
    assert tabled.stages.window_method.table_calls == 0 and tabled.stages.window_method.calls == 1
    assert tabled.stages.pad.calls == 1


def _same(first: mammokit.Pipeline, second: mammokit.Pipeline, path: Path) -> None:
    try:
        expected = first.preprocess(path)
    except MammokitError as err:
        with pytest.raises(type(err)):
            second.preprocess(path)
        return
    got = second.preprocess(path)
    assert np.array_equal(got.pixels, expected.pixels), path.name
    method = got.roi_method.replace("plain_profile", "profile_crop")
    assert (got.crop_box, got.flipped, method) == (
        expected.crop_box,
        expected.flipped,
        expected.roi_method,
    )


CORPUS_FILES = sorted(p for p in CORPUS.rglob("*.dcm"))


@pytest.mark.parametrize(
    "options",
    [
        {"window_options": {"default_window": "full"}},  # the built-ins take the exact order
        {"roi": "profile_crop"},  # display values: always the exact order
        {"roi": "profile_crop", "size": (96, 48), "flip": "right"},
    ],
    ids=["breast_mask", "profile_crop", "profile_crop_small"],
)
def test_builtins_behind_plain_objects_give_the_builtins_exact_output(
    manager: pluggy.PluginManager, big: list[Path], options: dict[str, Any]
) -> None:
    """voi_lut and aspect_pad behind objects that declare nothing give what the built-ins
    give wherever the built-ins take the exact order: on the bundled corpus and phantoms."""
    builtin = mammokit.Pipeline(manager=manager, **options)
    roi = {"roi": "plain_profile"} if options.get("roi") == "profile_crop" else {}
    plain = mammokit.Pipeline(
        manager=manager, **{**options, **roi, "window": "plain_voi", "padder": "plain_aspect"}
    )
    assert len(CORPUS_FILES) > 30
    for path in [*CORPUS_FILES, *big]:
        if options.get("size") and path in CORPUS_FILES[::2]:
            continue  # half the corpus is enough for the second size
        _same(builtin, plain, path)


# --- an ROI extractor on the modality values ----------------------------------------------


def test_a_values_extractor_plugin_is_given_the_modality_values(
    manager: pluggy.PluginManager, big: list[Path]
) -> None:
    pipe = mammokit.Pipeline(roi="bright", size=(96, 48), manager=manager)
    out = pipe.preprocess(big[1])  # breast on the right, MONOCHROME1
    assert out.roi_method == "bright" and out.laterality == "R"
    assert pipe.stages.roi.display_calls == 0
    assert out.crop_box.x1 == 720  # the chest wall side is kept
    missing = mammokit.Pipeline(roi="bright", roi_options={"find": False}, manager=manager)
    assert missing.preprocess(big[1]).roi_method == "otsu"  # its fallback, on the same copy
    assert missing.stages.roi.display_calls == 0
