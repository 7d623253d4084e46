"""`wotemu.monitor` of WoTemu 0.6 (apps use `wotemu.monitor.utils.write_metric`)."""
