"""Compatibility shim shipped with wotemu (Rust): just enough of WoTemu 0.6's Python API for topology files.

`wotemu` loads a 0.6 topology file in embedded Python with this package on the import path, calls its
`topology()` function and hands the model to Rust. No WoTemu 0.6 installation is needed.
"""

__version__ = "0.6.0"
