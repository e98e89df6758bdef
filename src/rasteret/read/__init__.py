"""Pixel reads: AOIs and windows, tile planning, fetch and decode, mosaics."""
