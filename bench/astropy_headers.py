#!/usr/bin/python3
"""Reference for bench/cu3_bench: astropy reading the same headers CU3 reads
(the primary and every extension of each image multiframe). Prints files/s."""
import sys
import time

from astropy.io import fits

paths = sys.argv[1:]
start = time.perf_counter()
cards = 0
for path in paths:
    with fits.open(path, memmap=True) as hdul:
        for hdu in hdul:
            cards += len(hdu.header)
elapsed = time.perf_counter() - start
print(f"{len(paths) / elapsed:.1f} {cards}")
