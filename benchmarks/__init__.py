"""Benchmarks of rasteret against GDAL/rasterio and async-geotiff (not part of the tests)."""
