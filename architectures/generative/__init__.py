"""Family G: autoencoders and generative models (spec §2 G). Each module registers its variants."""

from architectures.generative import dcgan  # noqa: F401
