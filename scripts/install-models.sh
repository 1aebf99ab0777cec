#!/usr/bin/env bash
# Install the PP-OCRv4 mobile text detector and recogniser (Apache-2.0) into a venv:
#     scripts/install-models.sh [VENV]        (default .venv)
# They come from the rapidocr 3.8.4 wheel on PyPI. Newer rapidocr wheels carry only the PP-OCRv6
# "small" models, which are 4x slower and read fewer plates (benchmarks/README.md "Plates"); 3.8.4
# itself wants the GUI OpenCV, so it goes beside the venv without its dependencies, off the import
# path, and edge.vision.plates loads just its two model files. Each is then rewritten once into a
# .folded.onnx with the same outputs and fewer operators (edge/vision/plates/fold.py), which the
# reader prefers: about a quarter faster on one core. Safe to run again.
set -euo pipefail
venv=${1:-.venv}
target="$venv/share/roadside-edge/rapidocr-3.8.4"
models="$target/rapidocr/models"
check() {
    sha256sum --quiet -c - <<SUMS
d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9  $models/ch_PP-OCRv4_det_mobile.onnx
48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b  $models/ch_PP-OCRv4_rec_mobile.onnx
SUMS
}
fold() {
    for kind in det rec; do
        src="$models/ch_PP-OCRv4_${kind}_mobile.onnx"
        [ -f "${src%.onnx}.folded.onnx" ] && continue
        # without the rewrite the reader runs the original file, slower but the same
        "$venv/bin/python" -m edge.vision.plates.fold "$src" "${src%.onnx}.folded.onnx" ||
            echo "install-models: $(basename "$src") not rewritten; the reader uses it as it is" >&2
    done
}
if [ -f "$models/ch_PP-OCRv4_det_mobile.onnx" ] && check 2>/dev/null; then
    fold
    exit 0
fi
rm -rf "$target"
"$venv/bin/python" -m pip install -q --no-deps --no-compile --target "$target" rapidocr==3.8.4
check
fold
