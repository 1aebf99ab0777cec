"""The PP-OCR rewrite (edge/vision/plates/fold.py): same outputs, fewer operators, or no file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge.errors import ModelError
from edge.vision.plates import fold, recognise
from edge.vision.plates.runtime import open_session

RNG = np.random.default_rng(7)


def _const(name: str, value: float) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name], value=numpy_helper.from_array(np.array([value], np.float32))
    )


def _block(x: str, conv_w: str, tag: str) -> list[onnx.NodeProto]:
    """conv -> scale/shift -> hard-swish in four operators -> scale/shift, as PP-LCNetV3 does."""
    return [
        helper.make_node("Conv", [x, conv_w], [f"{tag}c"], pads=[1, 1, 1, 1]),
        _const(f"{tag}a1", 1.7),
        helper.make_node("Mul", [f"{tag}a1", f"{tag}c"], [f"{tag}m1"]),
        _const(f"{tag}b1", -0.4),
        helper.make_node("Add", [f"{tag}m1", f"{tag}b1"], [f"{tag}s1"]),
        _const(f"{tag}three", 3.0),
        helper.make_node("Add", [f"{tag}s1", f"{tag}three"], [f"{tag}p3"]),
        _const(f"{tag}zero", 0.0),
        _const(f"{tag}six", 6.0),
        helper.make_node("Clip", [f"{tag}p3", f"{tag}zero", f"{tag}six"], [f"{tag}cl"]),
        helper.make_node("Mul", [f"{tag}s1", f"{tag}cl"], [f"{tag}hm"]),
        helper.make_node("Div", [f"{tag}hm", f"{tag}six"], [f"{tag}hs"]),
        _const(f"{tag}a2", 0.8),
        helper.make_node("Mul", [f"{tag}hs", f"{tag}a2"], [f"{tag}m2"]),
        _const(f"{tag}b2", 0.3),
        helper.make_node("Add", [f"{tag}m2", f"{tag}b2"], [f"{tag}out"]),
    ]


def _model(path: Path) -> Path:
    """Two blocks: the first feeds a padded 3x3 convolution (its shift must stay), the second a
    1x1 convolution (its shift folds in)."""
    weights = {
        "w1": RNG.normal(size=(8, 3, 3, 3)),
        "w2": RNG.normal(size=(8, 8, 3, 3)),
        "w3": RNG.normal(size=(4, 8, 1, 1)),
    }
    nodes = [
        *_block("x", "w1", "a"),
        *_block("aout", "w2", "b"),
        helper.make_node("Conv", ["bout", "w3"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "lab",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    session = open_session(path, ["cpu"], 1)
    return np.asarray(session.run(None, {"x": x})[0])


def test_the_rewrite_computes_the_same_with_fewer_operators(tmp_path: Path) -> None:
    src = _model(tmp_path / "lab.onnx")
    report = fold.fold_file(src, tmp_path / "lab.folded.onnx")
    ops = Counter(n.op_type for n in onnx.load(str(tmp_path / "lab.folded.onnx")).graph.node)
    # hard-swish is one operator; the shift after each conv and before the 1x1 conv are gone;
    # the one before the padded 3x3 conv stays
    assert ops == {"Conv": 3, "HardSwish": 2, "Mul": 1, "Add": 1}
    assert (report.nodes_before, report.nodes_after) == (19, 7)
    x = RNG.uniform(-2, 2, (1, 3, 20, 28)).astype(np.float32)  # another size than the check's
    want, got = _run(src, x), _run(tmp_path / "lab.folded.onnx", x)
    assert np.abs(want - got).max() <= 1e-4 * np.abs(want).max()


def test_a_rewrite_that_changes_the_outputs_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _model(tmp_path / "lab.onnx")
    real = fold.fold_before_pointwise

    def fold_into_every_conv(g: fold._Graph) -> None:
        # the error fold.py avoids: a shift folded into a padded conv changes its border
        monkeypatch.setattr(fold, "_pointwise", lambda *_: True)
        real(g)

    monkeypatch.setattr(fold, "fold_before_pointwise", fold_into_every_conv)
    with pytest.raises(ModelError, match="differs by"):
        fold.fold_file(src, tmp_path / "lab.folded.onnx")
    assert list(tmp_path.iterdir()) == [src]


def test_a_file_that_is_not_a_model_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert fold.main([str(bad), str(tmp_path / "out.onnx")]) == 1
    assert not (tmp_path / "out.onnx").exists()


def test_the_installed_recogniser_is_the_rewritten_one_and_reads_alike() -> None:
    folded = recognise.rapidocr_model("rec")
    original = recognise.PPOCR_MOBILE / "ch_PP-OCRv4_rec_mobile.onnx"
    assert folded.name == "ch_PP-OCRv4_rec_mobile.folded.onnx"
    x = RNG.uniform(-1, 1, (2, 3, 48, 160)).astype(np.float32)
    a, b = (open_session(p, ["cpu"], 1) for p in (original, folded))
    want = a.run(None, {a.get_inputs()[0].name: x})[0]
    got = b.run(None, {b.get_inputs()[0].name: x})[0]
    assert (want.argmax(-1) == got.argmax(-1)).all()
    assert np.abs(want - got).max() < 1e-4
