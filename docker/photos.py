"""Copies the camera app's sample photographs (and scikit-image's licence) out of a scikit-image wheel.

    python3 docker/photos.py WHEELS_DIR OUT_DIR

The vision image holds these files instead of scikit-image and SciPy (200 MB); the camera finds them through
WOTEMU_SAMPLE_PHOTOS. Used by docker/build.sh and docker/Dockerfile alike.
"""

import glob
import os
import sys
import zipfile

# The camera's SCENE (agent/python/wotemu_agent/apps/camera.py).
NAMES = ("coffee.png", "astronaut.png", "chelsea.png", "camera.png", "rocket.jpg", "motorcycle_left.png")


def main(wheels, out):
    found = glob.glob(os.path.join(wheels, "scikit_image-*.whl"))
    if not found:
        sys.exit("no scikit-image wheel in {}".format(wheels))
    os.makedirs(out, exist_ok=True)
    with zipfile.ZipFile(found[0]) as z:
        for name in NAMES:
            with open(os.path.join(out, name), "wb") as f:
                f.write(z.read("skimage/data/" + name))
        licences = [m for m in z.namelist() if m.endswith(".dist-info/licenses/LICENSE.txt")
                    or m.endswith(".dist-info/LICENSE.txt")]
        if licences:
            with open(os.path.join(out, "LICENSE-scikit-image.txt"), "wb") as f:
                f.write(z.read(licences[0]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
