"""Offline stand-ins for cloud services: COG factory, local servers, sample catalogs and the demo."""  # noqa: E501
