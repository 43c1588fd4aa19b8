"""What a still carries besides its pixels: EXIF orientation, the EXIF block, the ICC colour profile.

Phones store pictures as the sensor saw them and an EXIF orientation tag that tells viewers how to
turn them. The model must see the picture upright (rain falls down), so the orientation is applied
on read and the EXIF written back says 1 (upright): the output looks the same everywhere and is
never turned twice. The ICC profile is carried unchanged: the derain works on the encoded values,
so they keep meaning what the profile says. OpenCV reads and writes both blocks (JPEG, PNG, WebP).
"""
from __future__ import annotations

import struct

import numpy as np

ORIENTATION_TAG = 0x0112


def _tiff(exif: bytes) -> tuple[bytes, int, str] | None:
    """The TIFF structure inside an EXIF block: (bytes, offset of it in ``exif``, struct byte order)."""
    start = 6 if exif.startswith(b"Exif\0\0") else 0
    body = exif[start:]
    order = {b"II": "<", b"MM": ">"}.get(body[:2])
    return (body, start, order) if order and len(body) >= 8 else None


def _orientation_entry(exif: bytes) -> tuple[int, int, str] | None:
    """(value, byte offset of the value in ``exif``, byte order) of IFD0's orientation tag, if any."""
    found = _tiff(exif)
    if found is None:
        return None
    body, start, order = found
    try:
        ifd = struct.unpack_from(order + "I", body, 4)[0]
        count = struct.unpack_from(order + "H", body, ifd)[0]
        for i in range(count):
            entry = ifd + 2 + 12 * i
            tag = struct.unpack_from(order + "H", body, entry)[0]
            if tag == ORIENTATION_TAG:
                return struct.unpack_from(order + "H", body, entry + 8)[0], start + entry + 8, order
    except struct.error:  # a truncated or broken block: treat as upright
        return None
    return None


def exif_orientation(exif: bytes | None) -> int:
    """The EXIF orientation (1..8; 1 = upright), 1 when absent or unreadable."""
    entry = _orientation_entry(exif) if exif else None
    return entry[0] if entry and 1 <= entry[0] <= 8 else 1


def upright_exif(exif: bytes) -> bytes:
    """The same EXIF block with orientation 1, for pixels that were turned upright."""
    entry = _orientation_entry(exif)
    if entry is None:
        return exif
    _, offset, order = entry
    patched = bytearray(exif)
    struct.pack_into(order + "H", patched, offset, 1)
    return bytes(patched)


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """``image`` (H x W [x C]) turned the way EXIF ``orientation`` tells a viewer to show it."""
    if orientation == 2:
        image = image[:, ::-1]  # mirrored
    elif orientation == 3:
        image = image[::-1, ::-1]  # upside down
    elif orientation == 4:
        image = image[::-1]  # mirrored, upside down
    elif orientation == 5:
        image = np.swapaxes(image, 0, 1)  # mirrored, turned 90 clockwise
    elif orientation == 6:
        image = np.rot90(image, -1)  # turned 90 clockwise
    elif orientation == 7:
        image = np.swapaxes(image[::-1, ::-1], 0, 1)  # mirrored, turned 90 counter-clockwise
    elif orientation == 8:
        image = np.rot90(image, 1)  # turned 90 counter-clockwise
    return np.ascontiguousarray(image)
