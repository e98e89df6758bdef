"""TIFF, GeoTIFF and GDAL tag codes and field types, named once.

The parser speaks in these names so that a reader can check each one against the TIFF 6.0,
BigTIFF and OGC GeoTIFF 1.1 specifications without decoding magic numbers.
"""

from __future__ import annotations

from enum import IntEnum


class FieldType(IntEnum):
    """TIFF field (value) types, with BigTIFF's 8-byte additions."""

    BYTE = 1
    ASCII = 2
    SHORT = 3
    LONG = 4
    RATIONAL = 5
    SBYTE = 6
    UNDEFINED = 7
    SSHORT = 8
    SLONG = 9
    SRATIONAL = 10
    FLOAT = 11
    DOUBLE = 12
    IFD = 13
    LONG8 = 16
    SLONG8 = 17
    IFD8 = 18


FIELD_SIZES: dict[int, int] = {
    FieldType.BYTE: 1,
    FieldType.ASCII: 1,
    FieldType.SHORT: 2,
    FieldType.LONG: 4,
    FieldType.RATIONAL: 8,
    FieldType.SBYTE: 1,
    FieldType.UNDEFINED: 1,
    FieldType.SSHORT: 2,
    FieldType.SLONG: 4,
    FieldType.SRATIONAL: 8,
    FieldType.FLOAT: 4,
    FieldType.DOUBLE: 8,
    FieldType.IFD: 4,
    FieldType.LONG8: 8,
    FieldType.SLONG8: 8,
    FieldType.IFD8: 8,
}
"""Bytes per value of each field type; types missing here are unknown and ignored."""

UNSIGNED_TYPES: frozenset[int] = frozenset(
    {
        FieldType.BYTE,
        FieldType.SHORT,
        FieldType.LONG,
        FieldType.UNDEFINED,
        FieldType.IFD,
        FieldType.LONG8,
        FieldType.IFD8,
    }
)
"""Field types holding unsigned integers (offsets, counts, sizes)."""

SIGNED_TYPES: frozenset[int] = frozenset(
    {FieldType.SBYTE, FieldType.SSHORT, FieldType.SLONG, FieldType.SLONG8}
)
"""Field types holding signed integers."""

FLOAT_TYPES: frozenset[int] = frozenset({FieldType.FLOAT, FieldType.DOUBLE})
"""IEEE floating-point field types."""

RATIONAL_TYPES: frozenset[int] = frozenset({FieldType.RATIONAL, FieldType.SRATIONAL})
"""Fraction field types (two 32-bit integers per value)."""

NUMPY_CODES: dict[int, str] = {
    FieldType.BYTE: "u1",
    FieldType.SHORT: "u2",
    FieldType.LONG: "u4",
    FieldType.RATIONAL: "u4",
    FieldType.SBYTE: "i1",
    FieldType.UNDEFINED: "u1",
    FieldType.SSHORT: "i2",
    FieldType.SLONG: "i4",
    FieldType.SRATIONAL: "i4",
    FieldType.FLOAT: "f4",
    FieldType.DOUBLE: "f8",
    FieldType.IFD: "u4",
    FieldType.LONG8: "u8",
    FieldType.SLONG8: "i8",
    FieldType.IFD8: "u8",
}
"""NumPy dtype code (without byte order) of one value; rationals read as integer pairs."""


class Tag(IntEnum):
    """TIFF tags the parser reads. Anything else in an IFD is skipped unread."""

    NEW_SUBFILE_TYPE = 254
    IMAGE_WIDTH = 256
    IMAGE_LENGTH = 257
    BITS_PER_SAMPLE = 258
    COMPRESSION = 259
    PHOTOMETRIC = 262
    STRIP_OFFSETS = 273
    SAMPLES_PER_PIXEL = 277
    ROWS_PER_STRIP = 278
    STRIP_BYTE_COUNTS = 279
    PLANAR_CONFIG = 284
    PREDICTOR = 317
    TILE_WIDTH = 322
    TILE_LENGTH = 323
    TILE_OFFSETS = 324
    TILE_BYTE_COUNTS = 325
    EXTRA_SAMPLES = 338
    SAMPLE_FORMAT = 339
    JPEG_TABLES = 347
    YCBCR_SUBSAMPLING = 530
    MODEL_PIXEL_SCALE = 33550
    MODEL_TIEPOINT = 33922
    MODEL_TRANSFORMATION = 34264
    GEO_KEY_DIRECTORY = 34735
    GEO_DOUBLE_PARAMS = 34736
    GEO_ASCII_PARAMS = 34737
    GDAL_METADATA = 42112
    GDAL_NODATA = 42113
    LERC_PARAMETERS = 50674


class SubfileType(IntEnum):
    """Bits of NewSubfileType (tag 254)."""

    REDUCED_IMAGE = 1
    PAGE = 2
    MASK = 4


class SampleFormat(IntEnum):
    """SampleFormat (tag 339) values."""

    UINT = 1
    INT = 2
    IEEEFP = 3
    VOID = 4
    COMPLEXINT = 5
    COMPLEXIEEEFP = 6


class Photometric(IntEnum):
    """PhotometricInterpretation (tag 262) values the read path cares about."""

    MINISWHITE = 0
    MINISBLACK = 1
    RGB = 2
    PALETTE = 3
    MASK = 4
    SEPARATED = 5
    YCBCR = 6


class GeoKey(IntEnum):
    """GeoTIFF 1.1 GeoKeys (the key ids inside GeoKeyDirectory)."""

    GT_MODEL_TYPE = 1024
    GT_RASTER_TYPE = 1025
    GT_CITATION = 1026
    GEOGRAPHIC_TYPE = 2048
    GEOG_CITATION = 2049
    GEOG_GEODETIC_DATUM = 2050
    GEOG_PRIME_MERIDIAN = 2051
    GEOG_LINEAR_UNITS = 2052
    GEOG_LINEAR_UNIT_SIZE = 2053
    GEOG_ANGULAR_UNITS = 2054
    GEOG_ANGULAR_UNIT_SIZE = 2055
    GEOG_ELLIPSOID = 2056
    GEOG_SEMI_MAJOR_AXIS = 2057
    GEOG_SEMI_MINOR_AXIS = 2058
    GEOG_INV_FLATTENING = 2059
    GEOG_AZIMUTH_UNITS = 2060
    GEOG_PRIME_MERIDIAN_LONG = 2061
    PROJECTED_CS_TYPE = 3072
    PCS_CITATION = 3073
    PROJECTION = 3074
    PROJ_COORD_TRANS = 3075
    PROJ_LINEAR_UNITS = 3076
    PROJ_LINEAR_UNIT_SIZE = 3077
    PROJ_STD_PARALLEL1 = 3078
    PROJ_STD_PARALLEL2 = 3079
    PROJ_NAT_ORIGIN_LONG = 3080
    PROJ_NAT_ORIGIN_LAT = 3081
    PROJ_FALSE_EASTING = 3082
    PROJ_FALSE_NORTHING = 3083
    PROJ_FALSE_ORIGIN_LONG = 3084
    PROJ_FALSE_ORIGIN_LAT = 3085
    PROJ_FALSE_ORIGIN_EASTING = 3086
    PROJ_FALSE_ORIGIN_NORTHING = 3087
    PROJ_CENTER_LONG = 3088
    PROJ_CENTER_LAT = 3089
    PROJ_CENTER_EASTING = 3090
    PROJ_CENTER_NORTHING = 3091
    PROJ_SCALE_AT_NAT_ORIGIN = 3092
    PROJ_SCALE_AT_CENTER = 3093
    PROJ_AZIMUTH_ANGLE = 3094
    PROJ_STRAIGHT_VERT_POLE_LONG = 3095
    PROJ_RECTIFIED_GRID_ANGLE = 3096
    VERTICAL_CS_TYPE = 4096


class ModelType(IntEnum):
    """GTModelTypeGeoKey values."""

    PROJECTED = 1
    GEOGRAPHIC = 2
    GEOCENTRIC = 3


class RasterType(IntEnum):
    """GTRasterTypeGeoKey values."""

    PIXEL_IS_AREA = 1
    PIXEL_IS_POINT = 2


class CoordTrans(IntEnum):
    """ProjCoordTransGeoKey values (GeoTIFF coordinate transformation codes)."""

    TRANSVERSE_MERCATOR = 1
    TRANSV_MERCATOR_MODIFIED_ALASKA = 2
    OBLIQUE_MERCATOR = 3
    OBLIQUE_MERCATOR_LABORDE = 4
    OBLIQUE_MERCATOR_ROSENMUND = 5
    OBLIQUE_MERCATOR_SPHERICAL = 6
    MERCATOR = 7
    LAMBERT_CONF_CONIC_2SP = 8
    LAMBERT_CONF_CONIC_1SP = 9
    LAMBERT_AZIM_EQUAL_AREA = 10
    ALBERS_EQUAL_AREA = 11
    AZIMUTHAL_EQUIDISTANT = 12
    EQUIDISTANT_CONIC = 13
    STEREOGRAPHIC = 14
    POLAR_STEREOGRAPHIC = 15
    OBLIQUE_STEREOGRAPHIC = 16
    EQUIRECTANGULAR = 17
    CASSINI_SOLDNER = 18
    GNOMONIC = 19
    MILLER_CYLINDRICAL = 20
    ORTHOGRAPHIC = 21
    POLYCONIC = 22
    ROBINSON = 23
    SINUSOIDAL = 24
    VAN_DER_GRINTEN = 25
    NEW_ZEALAND_MAP_GRID = 26
    TRANSV_MERCATOR_SOUTH_ORIENTED = 27
    CYLINDRICAL_EQUAL_AREA = 28


USER_DEFINED = 32767
"""GeoKey value meaning "defined by the other keys", not by an EPSG code."""

CLASSIC_MAGIC = 42
"""Version word of a classic TIFF."""
BIGTIFF_MAGIC = 43
"""Version word of a BigTIFF."""
