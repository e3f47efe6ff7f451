"""Family G: autoencoders and generative models (spec §2 G). Each module registers its variants."""

from architectures.generative import dcgan  # noqa: F401
from architectures.generative import autoencoders, vae  # noqa: F401
from architectures.generative import gans  # noqa: F401
from architectures.generative import diffusion  # noqa: F401,E402
from architectures.generative import translation  # noqa: F401
from architectures.generative import style_transfer  # noqa: F401
from architectures.generative import super_resolution  # noqa: F401
from architectures.generative import gans_3d  # noqa: F401
from architectures.generative import clip  # noqa: F401,E402
from architectures.generative import unclip  # noqa: F401,E402
