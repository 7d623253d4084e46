"""`wotemu.topology` of WoTemu 0.6."""
