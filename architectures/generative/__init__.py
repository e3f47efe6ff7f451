"""Family G: autoencoders and generative models (spec §2 G). Each module registers its variants."""

from architectures.generative import dcgan  # noqa: F401
from architectures.generative import autoencoders, vae  # noqa: F401
from architectures.generative import gans  # noqa: F401
