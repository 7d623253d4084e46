"""The builtin apps of wotemu, with WoTemu 0.6's names, parameters and behaviour."""
