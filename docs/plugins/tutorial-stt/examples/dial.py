"""Write keypad tones to a WAV file: ``python dial.py "555 1234" digits.wav``.

Each key sounds for 0.1 s, then 0.1 s of quiet; a space is a pause of 1.2 s.
"""

import sys
import wave

import numpy as np
from voxgate_dtmf import COLUMNS, KEYS, ROWS

RATE = 8000  # samples per second, as on a telephone line

keys, filename = sys.argv[1:]
t = np.arange(round(0.1 * RATE)) / RATE
samples = []
for key in keys:
    if key == " ":
        samples.append(np.zeros(round(1.2 * RATE)))
        continue
    row = next(number for number, row_keys in enumerate(KEYS) if key in row_keys)
    low, high = ROWS[row], COLUMNS[KEYS[row].index(key)]
    samples.append(0.25 * np.sin(2 * np.pi * low * t) + 0.25 * np.sin(2 * np.pi * high * t))
    samples.append(np.zeros(len(t)))

with wave.open(filename, "wb") as out:
    out.setnchannels(1)
    out.setsampwidth(2)  # 16-bit samples
    out.setframerate(RATE)
    out.writeframes((np.concatenate(samples) * 32767).astype("<i2").tobytes())
