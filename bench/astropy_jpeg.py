#!/usr/bin/python3
"""Reference for bench/cu2_bench: astropy's ZScaleInterval plus Pillow make a
grayscale JPEG of every detector of the given multiframes, as CU2 does
(full size, FITS row 1 at the bottom). Prints megapixels/s on one core."""
import sys
import tempfile
import time

import numpy as np
from astropy.io import fits
from astropy.visualization import ZScaleInterval
from PIL import Image

out = tempfile.mkdtemp()
zscale = ZScaleInterval()
pixels = 0
start = time.perf_counter()
for n, path in enumerate(sys.argv[1:]):
    with fits.open(path) as hdul:
        for i, hdu in enumerate(hdul):
            if hdu.data is None or hdu.data.ndim != 2:
                continue
            data = hdu.data.astype(np.float32)
            lo, hi = zscale.get_limits(data)
            scaled = np.clip((data - lo) * (255.0 / max(hi - lo, 1e-30)), 0, 255)
            img = Image.fromarray(np.nan_to_num(scaled)[::-1].astype(np.uint8), mode="L")
            img.save(f"{out}/{n}_{i}.jpg", quality=85)
            pixels += data.size
elapsed = time.perf_counter() - start
print(f"{pixels / elapsed / 1e6:.1f}")
