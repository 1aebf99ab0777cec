"""PP-OCR models rewritten to compute the same values with fewer operators.

PP-OCRv4's PP-LCNetV3 backbone follows each convolution with a learnable scale and shift (two
whole-tensor operators), writes hard-swish as four (x * clip(x + 3, 0, 6) / 6) and scales and
shifts again after it. On one CPU core those memory-bound operators cost about a quarter of the
recogniser's time and of the detector's (benchmarks/README.md "Plates"). The rewrite

- folds a scalar scale and shift that follow a convolution into its weights and bias;
- writes hard-swish as the one HardSwish operator (opset 14);
- folds a scalar scale and shift that feed only 1x1 unpadded, ungrouped convolutions into their
  weights and bias (a padded convolution would see the shift at its border, so those stay).

Each step is exact algebra; only float rounding differs. `fold_file` runs the original and the
rewrite on the same random input and writes nothing unless they agree (MAX_DIFF).
scripts/install-models.sh runs it once at install time: `python -m edge.vision.plates.fold SRC DST`.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, numpy_helper, version_converter

from edge.errors import ModelError
from edge.vision.plates.runtime import open_session

MAX_DIFF = 1e-4  # largest output difference accepted between the original and the rewrite
HARDSWISH_OPSET = 14

Array = npt.NDArray[np.float32]
Users = dict[str, list[onnx.NodeProto | None]]  # consumers of each value; None: a graph output


@dataclass(frozen=True)
class FoldReport:
    """What a rewrite removed, and how far its output is from the original's."""

    nodes_before: int
    nodes_after: int
    max_diff: float


class _Graph:
    """An ONNX graph with its constants as arrays, for local rewrites."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.graph = model.graph
        self.consts: dict[str, Array] = {
            i.name: numpy_helper.to_array(i) for i in self.graph.initializer
        }
        nodes = []
        for node in self.graph.node:
            attr = node.attribute[0] if node.attribute else None
            if node.op_type == "Constant" and attr is not None and attr.name == "value":
                self.consts[node.output[0]] = numpy_helper.to_array(attr.t)
            else:
                nodes.append(node)
        self.nodes: list[onnx.NodeProto] = nodes

    def users(self) -> Users:
        """Consumers of each value."""
        found: Users = defaultdict(list)
        for node in self.nodes:
            for name in node.input:
                found[name].append(node)
        for out in self.graph.output:
            found[out.name].append(None)
        return found

    def scalar(self, name: str) -> float | None:
        value = self.consts.get(name)
        return None if value is None or value.size != 1 else float(value.reshape(-1)[0])

    def add_const(self, stem: str, value: Array) -> str:
        """Store a new constant under a fresh name starting with stem; returns the name."""
        name, k = stem, 0
        while name in self.consts:
            k += 1
            name = f"{stem}/{k}"
        self.consts[name] = value.astype(np.float32)
        return name

    def drop(self, dropped: set[int]) -> None:
        self.nodes = [n for n in self.nodes if id(n) not in dropped]

    def write_back(self) -> None:
        used = {name for node in self.nodes for name in node.input}
        del self.graph.node[:]
        self.graph.node.extend(self.nodes)
        del self.graph.initializer[:]
        self.graph.initializer.extend(
            numpy_helper.from_array(v, k) for k, v in self.consts.items() if k in used
        )


def _only_user(users: Users, name: str, op: str) -> onnx.NodeProto | None:
    found = users.get(name, [])
    node = found[0] if len(found) == 1 else None
    return node if node is not None and node.op_type == op else None


def _other(node: onnx.NodeProto, name: str) -> str:
    return str(next(i for i in node.input if i != name))


def _scale_shift(
    g: _Graph, users: Users, value: str
) -> tuple[float, float, onnx.NodeProto, onnx.NodeProto] | None:
    """`value * a + b` with scalar constants a, b, each step the only user of the one before."""
    mul = _only_user(users, value, "Mul")
    a = g.scalar(_other(mul, value)) if mul is not None else None
    if mul is None or a is None:
        return None
    add = _only_user(users, mul.output[0], "Add")
    b = g.scalar(_other(add, mul.output[0])) if add is not None else None
    if add is None or b is None:
        return None
    return a, b, mul, add


def _conv_params(g: _Graph, conv: onnx.NodeProto) -> tuple[Array, Array]:
    weight = g.consts[conv.input[1]]
    bias = g.consts[conv.input[2]] if len(conv.input) > 2 else np.zeros(weight.shape[0], np.float32)
    return weight, bias


def _set_conv_params(g: _Graph, conv: onnx.NodeProto, weight: Array, bias: Array, tag: str) -> None:
    conv.input[1] = g.add_const(f"{conv.input[1]}/{tag}", weight)
    bias_name = g.add_const(f"{conv.input[1]}/bias", bias)
    if len(conv.input) > 2:
        conv.input[2] = bias_name
    else:
        conv.input.append(bias_name)


def fold_after_conv(g: _Graph) -> None:
    """conv(x) * a + b  ->  conv'(x) with W' = a W and B' = a B + b."""
    users = g.users()
    dropped: set[int] = set()
    for conv in [n for n in g.nodes if n.op_type == "Conv" and n.input[1] in g.consts]:
        found = _scale_shift(g, users, conv.output[0])
        if found is None:
            continue
        a, b, mul, add = found
        weight, bias = _conv_params(g, conv)
        _set_conv_params(g, conv, weight * a, bias * a + b, "after")
        conv.output[0] = add.output[0]
        dropped |= {id(mul), id(add)}
    g.drop(dropped)


def _attr(node: onnx.NodeProto, name: str, default: object) -> object:
    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _pointwise(g: _Graph, node: onnx.NodeProto | None, value: str) -> bool:
    """node is a 1x1, unpadded, ungrouped convolution reading `value` as its input."""
    if node is None or node.op_type != "Conv" or node.input[0] != value:
        return False
    weight = g.consts.get(node.input[1])
    pads = _attr(node, "pads", [])
    return (
        weight is not None
        and weight.shape[2:] == (1, 1)
        and _attr(node, "group", 1) == 1
        and isinstance(pads, list)
        and not any(pads)
        and _attr(node, "auto_pad", b"NOTSET") in (b"NOTSET", b"VALID")
    )


def fold_before_pointwise(g: _Graph) -> None:
    """conv1x1(x * a + b)  ->  conv1x1'(x) with W' = a W and B' = B + b sum(W)."""
    users = g.users()
    dropped: set[int] = set()
    for mul in [n for n in g.nodes if n.op_type == "Mul"]:
        x = next((i for i in mul.input if g.scalar(i) is None), None)
        found = None if x is None else _scale_shift(g, users, x)
        if found is None or found[2] is not mul:
            continue
        a, b, _, add = found
        convs = users.get(add.output[0], [])
        if not convs or not all(_pointwise(g, c, add.output[0]) for c in convs):
            continue
        for conv in convs:
            assert conv is not None  # _pointwise checked it
            weight, bias = _conv_params(g, conv)
            _set_conv_params(g, conv, weight * a, bias + b * weight.sum(axis=(1, 2, 3)), "before")
            conv.input[0] = x
        dropped |= {id(mul), id(add)}
    g.drop(dropped)


def hardswish(g: _Graph) -> None:
    """x * clip(x + 3, 0, 6) / 6  ->  HardSwish(x); each inner value used only in the chain."""
    users = g.users()
    producers = {o: n for n in g.nodes for o in n.output}
    dropped: set[int] = set()
    for clip in [n for n in g.nodes if n.op_type == "Clip" and len(n.input) == 3]:
        add = producers.get(clip.input[0])
        if add is None or add.op_type != "Add" or len(users[add.output[0]]) != 1:
            continue
        three = [i for i in add.input if g.scalar(i) == 3.0]
        if len(three) != 1 or (g.scalar(clip.input[1]), g.scalar(clip.input[2])) != (0.0, 6.0):
            continue
        x = _other(add, three[0])
        mul = _only_user(users, clip.output[0], "Mul")
        if mul is None or x not in mul.input:
            continue
        div = _only_user(users, mul.output[0], "Div")
        if div is None or g.scalar(div.input[1]) != 6.0:
            continue
        div.op_type, div.name = "HardSwish", f"{div.output[0]}/hardswish"
        del div.input[:]
        div.input.append(x)
        dropped |= {id(add), id(clip), id(mul)}
    g.drop(dropped)


def fold_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """The rewritten model (a new object; the argument is left as it was)."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    out = model
    if opset < HARDSWISH_OPSET:
        out = version_converter.convert_version(model, HARDSWISH_OPSET)
    else:
        out = onnx.ModelProto()
        out.CopyFrom(model)
    g = _Graph(out)
    hardswish(g)
    fold_after_conv(g)
    fold_before_pointwise(g)
    g.write_back()
    onnx.checker.check_model(out)
    return out


def _probe_input(model_path: Path) -> Array:
    """A random input for the model: batch 1, free sizes 64."""
    session = open_session(model_path, ["cpu"], 1)
    dims = session.get_inputs()[0].shape
    shape = [d if isinstance(d, int) and d > 0 else 64 for d in dims]
    shape[0] = 1
    return np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)


def _outputs(model_path: Path, x: Array) -> list[Array]:
    session = open_session(model_path, ["cpu"], 1)
    return [np.asarray(y, np.float32) for y in session.run(None, {session.get_inputs()[0].name: x})]


def fold_file(src: Path, dst: Path) -> FoldReport:
    """Rewrite src into dst; ModelError (and no dst) when the outputs differ beyond MAX_DIFF."""
    try:
        model = onnx.load(str(src))
    except (OSError, DecodeError) as exc:
        raise ModelError(f"{src}: cannot load: {exc}") from exc
    folded = fold_model(model)
    tmp = dst.with_name(dst.name + ".tmp")
    onnx.save(folded, str(tmp))
    try:
        x = _probe_input(src)
        pairs = zip(_outputs(src, x), _outputs(tmp, x), strict=True)
        diff = max(float(np.abs(a - b).max()) for a, b in pairs)
        if not diff <= MAX_DIFF:
            raise ModelError(f"{src}: the rewrite differs by {diff:.2g} (> {MAX_DIFF}): not kept")
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)
    before = sum(n.op_type != "Constant" for n in model.graph.node)
    return FoldReport(before, len(folded.graph.node), diff)


def main(argv: list[str] | None = None) -> int:
    """`python -m edge.vision.plates.fold SRC DST`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    args = parser.parse_args(argv)
    try:
        report = fold_file(args.src, args.dst)
    except ModelError as exc:
        print(f"fold: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.dst.name}: {report.nodes_before} -> {report.nodes_after} operators,"
        f" outputs within {report.max_diff:.1g} of {args.src.name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
