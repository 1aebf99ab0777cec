"""onnxruntime sessions for plate models: providers from config, clear errors, file hashes."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from edge.errors import ModelError

log = logging.getLogger(__name__)

# onnxruntime's load errors do not share a base class below Exception; these are the ones a
# missing, truncated or wrong file produces.
LOAD_ERRORS: tuple[type[BaseException], ...] = (
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidGraph,
    ort_state.InvalidProtobuf,
    ort_state.NoSuchFile,
    ort_state.NotImplemented,
    ort_state.RuntimeException,
    RuntimeError,
    ValueError,
)

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file (goes into records so a reading names the exact model)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_providers(names: Sequence[str]) -> list[str]:
    """Configured providers that this onnxruntime build has, in order; CPU always last."""
    available = set(ort.get_available_providers())
    chosen: list[str] = []
    for name in names:
        ort_name = PROVIDERS[name]
        if ort_name in available:
            chosen.append(ort_name)
        else:
            log.warning("provider=%s unavailable, skipped (have: %s)", name, sorted(available))
    if PROVIDERS["cpu"] not in chosen:
        chosen.append(PROVIDERS["cpu"])
    return chosen


def open_session(path: Path, providers: Sequence[str], threads: int) -> Any:
    """An InferenceSession for path; ModelError naming the path if missing or not a model."""
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # frames and crops vary in size: an arena would keep the largest forever, and memory
    # patterns planned per input shape pile up (peak 490-550 -> 360-390 MB on 1080p frames,
    # no slower)
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    options.log_severity_level = 3  # the HyperLPR3 exports warn about initializers as inputs
    try:
        return ort.InferenceSession(str(path), options, providers=resolve_providers(providers))
    except LOAD_ERRORS as exc:
        raise ModelError(f"{path}: not a loadable ONNX model: {exc}") from exc
