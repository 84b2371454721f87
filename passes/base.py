"""The pass protocol shared by every rewrite in this package."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import onnx

from halp_graph.graph.capture_onnx import LoadedModel, as_loaded  # noqa: F401  (re-exported)


@dataclass
class PassResult:
    model: LoadedModel
    modified: bool
    info: dict = field(default_factory=dict)


class Pass(abc.ABC):
    """A model-to-model transformation with checked pre- and postconditions."""

    in_place: bool = False

    def requires(self, model: LoadedModel) -> None:
        """Raise if the pass cannot run on `model`. Nothing has been changed yet."""

    def ensures(self, model: LoadedModel) -> None:
        """Raise if the pass's result is not a valid model."""

    @abc.abstractmethod
    def call(self, model: LoadedModel) -> PassResult:
        ...

    def __call__(self, model: LoadedModel | onnx.ModelProto) -> PassResult:
        model = as_loaded(model)
        self.requires(model)
        result = self.call(model)
        if result.modified:
            self.ensures(result.model)
        return result
