"""Emulated site devices that speak the real protocols (LuxOS miners, Modbus meter, DCGM)."""
