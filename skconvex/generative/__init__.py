"""Generative models trained through exact convex formulations."""

from skconvex.generative._procogan import ProCoGAN
from skconvex.generative._wgan import ConvexWGAN

__all__ = ["ConvexWGAN", "ProCoGAN"]
