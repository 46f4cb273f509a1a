"""Inspecting trained networks: certificates of global optimality from convex duality."""

from skconvex.inspection._certify import (
    MaxMarginCertificate,
    NetworkCertificate,
    certify,
    certify_max_margin,
)

__all__ = ["MaxMarginCertificate", "NetworkCertificate", "certify", "certify_max_margin"]
