"""Device drivers: miners (LuxOS API), the site meter (Modbus TCP), AI load telemetry (DCGM)."""
