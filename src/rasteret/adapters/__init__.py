"""Output formats over the read core.

Optional dependencies (xarray, GeoPandas) are imported only here.
"""
