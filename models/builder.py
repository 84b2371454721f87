"""A small builder for ONNX conv nets in code, used by the edge cases and property tests.

It tracks shapes as it goes, writes every op in the encoding of the requested opset (Split
sizes as attribute or input, ReduceMean axes, Squeeze axes...), and `build` checks the
result with onnx.checker and strict shape inference.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class GraphBuilder:
    def __init__(self, name: str, opset: int = 17, batch: int | str = "N", seed: int = 0):
        self.name = name
        self.opset = opset
        self.batch = batch
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.shapes: dict[str, list] = {}
        self._n = 0

    # -------------------------------------------------------------- helpers
    def _name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value: np.ndarray, hint: str = "c") -> str:
        name = self._name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        self.shapes[name] = list(np.asarray(value).shape)
        return name

    def ints(self, values, hint: str = "i") -> str:
        return self.const(np.asarray(values, dtype=np.int64), hint)

    def op(self, op_type: str, inputs: list[str], shape: list | None = None, n_out: int = 1,
           shapes: list[list] | None = None, hint: str | None = None, **attrs) -> str | list[str]:
        outs = [self._name(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self._name(op_type), **attrs))
        for i, out in enumerate(outs):
            if shapes is not None:
                self.shapes[out] = list(shapes[i])
            elif shape is not None:
                self.shapes[out] = list(shape)
            else:
                self.shapes[out] = list(self.shapes[inputs[0]])
        return outs[0] if n_out == 1 else outs

    def weights(self, shape: tuple, fan_in: int) -> np.ndarray:
        return (self.rng.standard_normal(shape) / np.sqrt(max(fan_in, 1))).astype(np.float32)

    # ---------------------------------------------------------------- graph io
    def input(self, name: str, channels: int, hw: tuple[int, int] = (8, 8)) -> str:
        shape = [self.batch, channels, *hw]
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        self.shapes[name] = shape
        return name

    def input_tensor(self, name: str, shape: list) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        self.shapes[name] = list(shape)
        return name

    def output(self, x: str) -> str:
        self.outputs.append(helper.make_tensor_value_info(x, TensorProto.FLOAT, self.shapes[x]))
        return x

    # --------------------------------------------------------------- layers
    def conv(self, x: str, cout: int, k: int = 3, group: int = 1, bias: bool | str = True,
             stride: int = 1, hint: str = "conv") -> str:
        n, cin, h, w = self.shapes[x]
        wname = self.const(self.weights((cout, cin // group, k, k), cin // group * k * k), f"{hint}_w")
        inputs = [x, wname]
        if isinstance(bias, str):
            inputs.append(bias)
        elif bias:
            inputs.append(self.const((0.1 * self.rng.standard_normal(cout)).astype(np.float32), f"{hint}_b"))
        out_hw = [(d + 2 * (k // 2) - k) // stride + 1 for d in (h, w)]
        return self.op("Conv", inputs, [n, cout, *out_hw], hint=hint, kernel_shape=[k, k],
                       pads=[k // 2] * 4, strides=[stride, stride], group=group)

    def conv_transpose(self, x: str, cout: int, k: int = 2, stride: int = 2) -> str:
        n, cin, h, w = self.shapes[x]
        wname = self.const(self.weights((cin, cout, k, k), cin * k * k), "deconv_w")
        b = self.const((0.1 * self.rng.standard_normal(cout)).astype(np.float32), "deconv_b")
        return self.op("ConvTranspose", [x, wname, b], [n, cout, h * stride, w * stride],
                       kernel_shape=[k, k], strides=[stride, stride])

    def bn(self, x: str) -> str:
        c = self.shapes[x][1]
        params = [self.const((0.5 + self.rng.random(c)).astype(np.float32), "bn_scale"),
                  self.const((0.2 * self.rng.standard_normal(c)).astype(np.float32), "bn_bias"),
                  self.const((0.2 * self.rng.standard_normal(c)).astype(np.float32), "bn_mean"),
                  self.const((0.5 + self.rng.random(c)).astype(np.float32), "bn_var")]
        return self.op("BatchNormalization", [x, *params], epsilon=1e-5)

    def relu(self, x: str) -> str:
        return self.op("Relu", [x])

    def act(self, op_type: str, x: str, **attrs) -> str:
        return self.op(op_type, [x], **attrs)

    def add(self, a: str, b: str) -> str:
        return self.op("Add", [a, b], _broadcast(self.shapes[a], self.shapes[b]))

    def mul(self, a: str, b: str) -> str:
        return self.op("Mul", [a, b], _broadcast(self.shapes[a], self.shapes[b]))

    def concat(self, xs: list[str], axis: int = 1) -> str:
        shape = list(self.shapes[xs[0]])
        shape[axis] = sum(self.shapes[x][axis] for x in xs)
        return self.op("Concat", xs, shape, axis=axis)

    def split(self, x: str, sizes: list[int], axis: int = 1) -> list[str]:
        shapes = []
        for s in sizes:
            shape = list(self.shapes[x])
            shape[axis] = s
            shapes.append(shape)
        if self.opset < 13:
            return self.op("Split", [x], n_out=len(sizes), shapes=shapes, axis=axis, split=sizes)
        if self.opset >= 18 and len(set(sizes)) == 1:
            return self.op("Split", [x], n_out=len(sizes), shapes=shapes, axis=axis,
                           num_outputs=len(sizes))
        return self.op("Split", [x, self.ints(sizes, "split")], n_out=len(sizes), shapes=shapes, axis=axis)

    def slice(self, x: str, start: int, stop: int, axis: int = 1) -> str:
        shape = list(self.shapes[x])
        shape[axis] = stop - start
        return self.op("Slice", [x, self.ints([start]), self.ints([stop]), self.ints([axis])], shape)

    def gap(self, x: str) -> str:
        n, c = self.shapes[x][:2]
        return self.op("GlobalAveragePool", [x], [n, c, 1, 1])

    def reduce_mean(self, x: str, axes: list[int], keepdims: int = 1) -> str:
        shape = [1 if i in axes else d for i, d in enumerate(self.shapes[x])]
        if not keepdims:
            shape = [d for i, d in enumerate(self.shapes[x]) if i not in axes]
        if self.opset >= 18:
            return self.op("ReduceMean", [x, self.ints(axes)], shape, keepdims=keepdims)
        return self.op("ReduceMean", [x], shape, axes=axes, keepdims=keepdims)

    def flatten(self, x: str) -> str:
        shape = self.shapes[x]
        return self.op("Flatten", [x], [shape[0], int(np.prod(shape[1:]))], axis=1)

    def reshape(self, x: str, target: list[int], out_shape: list) -> str:
        return self.op("Reshape", [x, self.ints(target, "shape")], out_shape)

    def gemm(self, x: str, out: int, trans_b: int = 1) -> str:
        n, k = self.shapes[x]
        w = self.weights((out, k) if trans_b else (k, out), k)
        b = (0.1 * self.rng.standard_normal(out)).astype(np.float32)
        return self.op("Gemm", [x, self.const(w, "fc_w"), self.const(b, "fc_b")], [n, out], transB=trans_b)

    def matmul(self, x: str, out: int, bias: bool = True) -> str:
        k = self.shapes[x][-1]
        y = self.op("MatMul", [x, self.const(self.weights((k, out), k), "mm_w")], [*self.shapes[x][:-1], out])
        if bias:
            y = self.op("Add", [y, self.const((0.1 * self.rng.standard_normal(out)).astype(np.float32), "mm_b")])
        return y

    def softmax(self, x: str, axis: int) -> str:
        return self.op("Softmax", [x], axis=axis)

    # ---------------------------------------------------------------- build
    def build(self, check: bool = True) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="halp_graph.models.builder")
        model.ir_version = min(model.ir_version, 8 if self.opset <= 18 else 9)
        if check:
            onnx.checker.check_model(model, full_check=True)
        return model


def _broadcast(a: list, b: list) -> list:
    rank = max(len(a), len(b))
    a = [1] * (rank - len(a)) + list(a)
    b = [1] * (rank - len(b)) + list(b)
    return [x if y == 1 else y for x, y in zip(a, b)]
