"""Segment an image with an exported .tflite model using LiteRT only (numpy, Pillow, ai-edge-litert).

    python export/run_tflite.py model.tflite photo.jpg --out mask.png [--threads 2]

The work is in kerasseg/litert.py, which imports no TensorFlow and no other
kerasseg module: copy that one file next to this one to run on a device
without kerasseg installed.
"""

import os
import sys

try:
    from kerasseg.litert import main
except ImportError:  # a device without kerasseg: litert.py copied beside this script
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from litert import main

if __name__ == "__main__":
    sys.exit(main())
